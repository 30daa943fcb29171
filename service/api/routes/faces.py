"""/v1/identities/{id}/faces: enrol images of a person (partial success), list and delete faces."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from service.api import deps, metrics
from service.api.enrolment import enrol_images
from service.api.params import body_doc, parse_params
from service.api.responses import ADMIN, CLIENT, FACE, IMAGE_BODY, PARAMS, error_responses, links
from service.api.routes import API_PREFIX
from service.api.routes.identities import IdentityId, Limit, Offset, Sessions
from service.api.schemas import MAX_ID, EnrolParams, EnrolResult, FaceRecord, PageOut
from service.api.uploads import read_body, sent_as_json
from service.errors import ErrorCode, FaceverError
from service.gallery import repository
from service.gallery.gallery import Gallery
from service.vision.face_choice import SIMILAR_AREA_RATIO

router = APIRouter(prefix=API_PREFIX, dependencies=[deps.query_checked])

IMAGES = "images"
MAX_IMAGES = 20  # per request; bounds one request's pipeline time
FaceId = Annotated[int, Path(ge=1, le=MAX_ID)]
_IDENTITY = {"identity_id": "$request.path.identity_id"}  # link parameter: the identity the request was about


@router.post("/identities/{identity_id}/faces", response_model=EnrolResult, status_code=201,
             dependencies=[deps.admin], openapi_extra=body_doc(EnrolParams, {IMAGES: MAX_IMAGES}, [IMAGES]),
             responses={**error_responses(*ADMIN, *IMAGE_BODY, *FACE, ErrorCode.multiple_faces, ErrorCode.not_found,
                                          ErrorCode.duplicate_image, ErrorCode.enrolment_failed),
                        **links(201, "At least one face was enrolled", list_faces=_IDENTITY,
                                delete_face={**_IDENTITY, "face_id": "$response.body#/results/0/face_id"})},
             summary="Enrol one or more images of this identity",
             description="One result per image, in order. 201 when at least one face was enrolled; otherwise "
                         "the error envelope (the shared reason as its code, else enrolment_failed) with the "
                         "per-image results in details.results. An image with several faces enrols the largest "
                         "and lists the others in ignored_faces; it is refused as multiple_faces when the "
                         f"second-largest has {SIMILAR_AREA_RATIO:.0%} or more of the largest's area (which "
                         "person the image is of is then ambiguous), unless pick_largest is set.")
async def enrol(identity_id: IdentityId, request: Request) -> JSONResponse:
    pipeline = deps.pipeline_of(request)
    body = await read_body(request, (IMAGES,), pipeline.limits.max_bytes, MAX_IMAGES)
    images = body.pop(IMAGES, None)
    images = [images] if isinstance(images, bytes) else images
    if not images or not all(isinstance(item, bytes) for item in images):
        raise FaceverError(ErrorCode.validation_error, f"send one or more images in {IMAGES!r}", missing=[IMAGES])
    if len(images) > MAX_IMAGES:
        raise FaceverError(ErrorCode.validation_error, f"at most {MAX_IMAGES} images per request", count=len(images))
    params = parse_params(EnrolParams, body, strict=sent_as_json(request))
    results = await run_in_threadpool(enrol_images, pipeline, deps.gallery_of(request), deps.settings_of(request),
                                      identity_id, images, params.pick_largest)
    enrolled = sum(item.status == "enrolled" for item in results)
    metrics.faces_enrolled(enrolled)
    result = EnrolResult(identity_id=identity_id, enrolled=enrolled, rejected=len(results) - enrolled,
                         results=results)
    if enrolled:
        return JSONResponse(result.model_dump(mode="json"), status_code=201)
    reasons = {item.reason for item in results}
    code = ErrorCode(reasons.pop()) if len(reasons) == 1 else ErrorCode.enrolment_failed
    raise FaceverError(code, "no image was enrolled; see details.results", **result.model_dump(mode="json"))


@router.get("/identities/{identity_id}/faces", response_model=PageOut[FaceRecord], dependencies=[deps.client],
            responses=error_responses(*CLIENT, ErrorCode.not_found, *PARAMS),
            summary="List an identity's faces")
def list_faces(identity_id: IdentityId, sessions: Sessions, offset: Offset = 0,
               limit: Limit = 50) -> PageOut[FaceRecord]:
    with sessions() as session:
        page = repository.list_faces(session, identity_id, offset, limit)
    return PageOut(items=[FaceRecord.of(face) for face in page.items], total=page.total, offset=offset, limit=limit)


@router.delete("/identities/{identity_id}/faces/{face_id}", status_code=204, dependencies=[deps.admin],
               responses=error_responses(*ADMIN, ErrorCode.not_found, *PARAMS),
               summary="Delete one face (no longer matched once this returns)")
def delete_face(identity_id: IdentityId, face_id: FaceId,
                gallery: Annotated[Gallery, Depends(deps.gallery_of)]) -> Response:
    gallery.remove_face(face_id, identity_id)
    return Response(status_code=204)


@router.get("/identities/{identity_id}/faces/{face_id}/crop", dependencies=[deps.client],
            response_class=Response, responses={200: {"content": {"image/jpeg": {}}, "description":
                                                      "the 112x96 aligned crop, JPEG"},
                                                **error_responses(*CLIENT, ErrorCode.not_found, *PARAMS)},
            summary="The stored aligned crop of one face (JPEG)",
            description="404 not_found also when the face was enrolled with FACEVER_STORE_CROPS off.")
def face_crop(identity_id: IdentityId, face_id: FaceId, sessions: Sessions) -> Response:
    with sessions() as session:
        jpeg = repository.face_crop(session, identity_id, face_id)
    # a face id is never reused and a stored crop never changes: the browser may keep it
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})
