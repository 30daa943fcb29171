"""POST /v1/verify: are the faces in two images, or an image and an enrolled identity, the same person?"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from service.api import deps
from service.api.crops import crop_data_url
from service.api.params import body_doc, image_bytes, parse_params
from service.api.responses import CLIENT, FACE, IMAGE_BODY, error_responses
from service.api.routes import API_PREFIX
from service.api.schemas import STRICTNESS, FaceOut, IdentityRef, VerifyParams, VerifyResult
from service.api.uploads import read_body, sent_as_json
from service.decisions import verify_decision
from service.errors import ErrorCode, FaceverError

router = APIRouter(prefix=API_PREFIX, dependencies=[deps.query_checked])

IMAGE_FIELDS = ("image_a", "image_b")


@router.post("/verify", response_model=VerifyResult, dependencies=[deps.client],
             openapi_extra=body_doc(VerifyParams, {"image_a": 1, "image_b": 1}, ["image_a"],
                                    one_of=("image_b", "identity_id"), at_most_one=STRICTNESS),
             responses=error_responses(*CLIENT, *IMAGE_BODY, *FACE, ErrorCode.not_found,
                                       ErrorCode.identity_without_faces),
             summary="Verify two faces, or a face against an enrolled identity",
             description="Send image_a and either image_b or identity_id (then image_a's face is compared with "
                         "the identity's template, the normalised mean of its faces). `match` compares `score` "
                         "with a threshold that comes from `far` (default: the model card's default_far), calibrated for photo against photo or "
                         "for an identity with as many faces as this one; an explicit `threshold` applies as is.")
async def verify(request: Request) -> VerifyResult:
    pipeline, gallery = deps.pipeline_of(request), deps.gallery_of(request)
    body = await read_body(request, IMAGE_FIELDS, pipeline.limits.max_bytes)
    image_a = image_bytes(body, "image_a")
    params = parse_params(VerifyParams, {k: v for k, v in body.items() if k not in IMAGE_FIELDS},
                          strict=sent_as_json(request))
    if (params.identity_id is None) == ("image_b" not in body):
        raise FaceverError(ErrorCode.validation_error, "send either image_b or identity_id (one of them)")
    image_b = image_bytes(body, "image_b") if params.identity_id is None else None
    card = pipeline.embedder.card
    verify_decision(card, params.far, params.threshold)  # a model without calibration refuses `far` up front

    def run() -> VerifyResult:
        # both images are decoded, detected and aligned at once, then embedded in one run;
        # an error names its image (details.field)
        images = {"image_a": image_a} if image_b is None else {"image_a": image_a, "image_b": image_b}
        faces = pipeline.embed_each(images, params.face_policy)
        face_a = faces["image_a"]
        crop = crop_data_url if params.return_crops else lambda _: None
        result = {"model": card.name, "face_a": FaceOut.of(face_a.face), "crop_a": crop(face_a.crop)}
        if image_b is not None:
            face_b = faces["image_b"]
            similarity, score = pipeline.embedder.scoring.pair(face_a.embedding, face_b.embedding)
            decision = verify_decision(card, params.far, params.threshold)
            result.update(face_b=FaceOut.of(face_b.face), crop_b=crop(face_b.crop))
        else:
            best = gallery.match_identity(params.identity_id, face_a.embedding)
            if best is None:
                raise FaceverError(ErrorCode.identity_without_faces, f"identity {params.identity_id} has no "
                                   "enrolled face for the active model", identity_id=params.identity_id)
            similarity, score = best.similarity, best.score
            decision = verify_decision(card, params.far, params.threshold, best.faces)
            result.update(identity=IdentityRef.of_candidate(best), face_id=best.face_id, enrolled_faces=best.faces)
        return VerifyResult(similarity=round(similarity, 6), score=round(score, 6), threshold=decision.threshold,
                            far=decision.far, match=decision.accepts(score), **result)

    return await run_in_threadpool(run)
