"""/v1/identities: create, list, read, update and delete the people of the gallery."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import AfterValidator
from sqlalchemy.orm import Session, sessionmaker

from service.api import deps
from service.api.responses import ADMIN, BODY, CLIENT, PARAMS, error_responses, links
from service.api.routes import API_PREFIX
from service.api.schemas import MAX_ID, NO_NUL, IdentityCreate, IdentityOut, IdentityUpdate, PageOut, no_nul
from service.db.engine import write_session
from service.errors import ErrorCode
from service.gallery import repository
from service.gallery.gallery import Gallery

router = APIRouter(prefix=API_PREFIX, dependencies=[deps.query_checked])

Sessions = Annotated[sessionmaker[Session], Depends(deps.sessions_of)]
IdentityId = Annotated[int, Path(ge=1, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500)]
Galleries = Annotated[Gallery, Depends(deps.gallery_of)]
Filter = Annotated[str | None, Query(min_length=1, max_length=255, json_schema_extra=NO_NUL.json_schema_extra),
                   AfterValidator(lambda v: v and no_nul(v))]


# plain defs: FastAPI runs them in its thread pool, keeping SQL off the event loop
# what a created identity's id leads to (OpenAPI links, which clients and API testers follow)
_NEW_ID = {"identity_id": "$response.body#/id"}


@router.post("/identities", response_model=IdentityOut, status_code=201, dependencies=[deps.admin],
             responses={**error_responses(*ADMIN, *PARAMS, *BODY, ErrorCode.conflict),
                        **links(201, "The created identity", get_identity=_NEW_ID, update_identity=_NEW_ID,
                                delete_identity=_NEW_ID, enrol=_NEW_ID, list_faces=_NEW_ID)},
             summary="Create an identity")
def create_identity(body: IdentityCreate, sessions: Sessions) -> IdentityOut:
    with write_session(sessions) as session:
        identity = repository.create_identity(session, body.name, body.external_id, body.metadata)
    return IdentityOut.of(identity, faces=0)


def _faces(session: Session, gallery: Gallery, identity_ids: list[int]) -> dict[int, int]:
    return repository.face_counts(session, identity_ids, gallery.embedder)


@router.get("/identities", response_model=PageOut[IdentityOut], dependencies=[deps.client],
            responses=error_responses(*CLIENT, *PARAMS),
            summary="List identities (by id; filter by name substring or exact external_id)")
def list_identities(sessions: Sessions, gallery: Galleries, offset: Offset = 0, limit: Limit = 50,
                    name: Filter = None, external_id: Filter = None) -> PageOut[IdentityOut]:
    with sessions() as session:
        page = repository.list_identities(session, offset, limit, name, external_id)
        faces = _faces(session, gallery, [item.id for item in page.items])
    return PageOut(items=[IdentityOut.of(item, faces[item.id]) for item in page.items], total=page.total,
                   offset=offset, limit=limit)


@router.get("/identities/{identity_id}", response_model=IdentityOut, dependencies=[deps.client],
            responses=error_responses(*CLIENT, ErrorCode.not_found, *PARAMS),
            summary="Read an identity")
def get_identity(identity_id: IdentityId, sessions: Sessions, gallery: Galleries) -> IdentityOut:
    with sessions() as session:
        identity = repository.get_identity(session, identity_id)
        return IdentityOut.of(identity, _faces(session, gallery, [identity_id])[identity_id])


@router.patch("/identities/{identity_id}", response_model=IdentityOut, dependencies=[deps.admin],
              responses=error_responses(*ADMIN, *PARAMS, *BODY, ErrorCode.not_found, ErrorCode.conflict),
              summary="Update an identity's name, external_id or metadata")
def update_identity(identity_id: IdentityId, body: IdentityUpdate, sessions: Sessions,
                    gallery: Galleries) -> IdentityOut:
    changes = body.model_dump(include=body.model_fields_set)
    with write_session(sessions) as session:
        identity = repository.update_identity(session, identity_id, changes)
        faces = _faces(session, gallery, [identity_id])[identity_id]
    return IdentityOut.of(identity, faces)  # after the commit, which refreshes updated_at


@router.delete("/identities/{identity_id}", status_code=204, dependencies=[deps.admin],
               responses=error_responses(*ADMIN, ErrorCode.not_found, *PARAMS),
               summary="Delete an identity and all its faces (no longer identified once this returns)")
def delete_identity(identity_id: IdentityId, gallery: Galleries) -> Response:
    gallery.remove_identity(identity_id)
    return Response(status_code=204)
