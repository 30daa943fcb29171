"""/v1/keys: list, create and revoke API keys (admin only), as `facever keys` does from the command line."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Path

from service import auth
from service.api import deps
from service.api.responses import ADMIN, BODY, PARAMS, error_responses
from service.api.routes import API_PREFIX
from service.api.routes.identities import Sessions
from service.api.schemas import MAX_ID, KeyCreate, KeyCreated, KeyOut
from service.db.engine import write_session
from service.errors import ErrorCode

router = APIRouter(prefix=API_PREFIX, dependencies=[deps.query_checked, deps.admin])

KeyId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/keys", response_model=list[KeyOut], responses=error_responses(*ADMIN, *PARAMS),
            summary="List API keys (never the keys themselves)")
def list_keys(sessions: Sessions) -> list[KeyOut]:
    with sessions() as session:
        return [KeyOut(**dataclasses.asdict(info)) for info in auth.list_keys(session)]


@router.post("/keys", response_model=KeyCreated, status_code=201,
             responses=error_responses(*ADMIN, ErrorCode.invalid_request, *PARAMS, *BODY),
             summary="Create an API key; the response is the only time the key is shown")
def create_key(body: KeyCreate, sessions: Sessions) -> KeyCreated:
    with write_session(sessions) as session:
        info, key = auth.create_key(session, body.name, body.role)
    return KeyCreated(**dataclasses.asdict(info), key=key)


@router.post("/keys/{key_id}/revoke", response_model=KeyOut,
             responses=error_responses(*ADMIN, ErrorCode.not_found, ErrorCode.conflict, *PARAMS),
             summary="Revoke an API key (requests with it get 401 from then on; it stays listed)",
             description="The last unrevoked admin key cannot be revoked here (conflict): nobody could manage keys "
                         "or identities over the API afterwards. Create another admin key first, or use "
                         "`facever keys revoke`.")
def revoke_key(key_id: KeyId, sessions: Sessions) -> KeyOut:
    with write_session(sessions) as session:
        info = auth.revoke_key(session, key_id, keep_an_admin=True)
    return KeyOut(**dataclasses.asdict(info))
