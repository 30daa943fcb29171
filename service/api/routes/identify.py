"""POST /v1/identify: who, among the enrolled identities, is the face in this image (open set)?"""

from __future__ import annotations

import functools
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from service.api import deps
from service.api.crops import crop_data_url
from service.api.params import body_doc, image_bytes, parse_params
from service.api.responses import CLIENT, FACE, IMAGE_BODY, error_responses
from service.api.routes import API_PREFIX
from service.api.schemas import (
    STRICTNESS,
    CandidateOut,
    FaceIdentification,
    FaceOut,
    IdentifyAllResult,
    IdentifyParams,
    IdentifyResult,
    IdentityRef,
)
from service.api.uploads import read_body, sent_as_json
from service.decisions import Decision, identify_decision
from service.gallery.gallery import Candidate, Gallery
from service.vision.pipeline import EmbeddedFace, FacePipeline

router = APIRouter(prefix=API_PREFIX, dependencies=[deps.query_checked])

IMAGE = "image"


@router.post("/identify", response_model=IdentifyResult | IdentifyAllResult, dependencies=[deps.client],
             openapi_extra=body_doc(IdentifyParams, {IMAGE: 1}, [IMAGE], at_most_one=STRICTNESS),
             summary="Identify a face",
             responses=error_responses(*CLIENT, *IMAGE_BODY, *FACE),
             description="Candidates are the top_k identities by the score of their template (the "
                         "normalised mean of their faces), whatever the threshold; `match` is the first candidate "
                         "if it reaches its threshold, else null. Thresholds come from `far` (default: the model "
                         "card's default_far): each candidate is held to far / (identities enrolled), at its "
                         "number of faces, so a never-enrolled person gets a match with probability at most far. "
                         "An explicit `threshold` applies to every candidate as is. With all_faces, one such "
                         "answer per detected face in `faces`.")
async def identify(request: Request) -> IdentifyResult | IdentifyAllResult:
    pipeline, gallery = deps.pipeline_of(request), deps.gallery_of(request)
    body = await read_body(request, (IMAGE,), pipeline.limits.max_bytes)
    data = image_bytes(body, IMAGE)
    params = parse_params(IdentifyParams, {k: v for k, v in body.items() if k != IMAGE}, strict=sent_as_json(request))
    card = pipeline.embedder.card
    # checked before any pipeline work: a model without calibration refuses `far` with a 422
    far = identify_decision(card, params.far, params.threshold, 1, gallery.identities).far
    answers, identities = await run_in_threadpool(_identify, pipeline, gallery, data, params)

    @functools.cache  # one threshold per face count: candidates share them
    def decide(faces: int) -> Decision:
        return identify_decision(card, params.far, params.threshold, faces, identities)

    results = [_answer(face, hits, decide, params.return_crops) for face, hits in answers]
    if params.all_faces:
        return IdentifyAllResult(model=card.name, far=far, identities=identities, faces=results)
    return IdentifyResult(model=card.name, far=far, identities=identities, **dict(results[0]))


def _identify(pipeline: FacePipeline, gallery: Gallery, data: bytes,
              params: IdentifyParams) -> tuple[list[tuple[EmbeddedFace, list[Candidate]]], int]:
    """Each face's candidates, and the number of identities searched (N, on which the decision's threshold
    depends), read after the gallery caught up with other workers' writes, as the search was."""
    if params.all_faces:
        faces = pipeline.embed_aligned(pipeline.align_usable(pipeline.decode(data), "all"))
    else:
        faces = [pipeline.embed_one(data, params.face_policy)]
    gallery.refresh()
    # the gallery reads the candidates from SQL: an identity deleted since the index saw it is left out
    return [(face, gallery.search(face.embedding, params.top_k)) for face in faces], gallery.identities


def _answer(face: EmbeddedFace, hits: list[Candidate], decide: Callable[[int], Decision],
            with_crop: bool) -> FaceIdentification:
    candidates = [
        CandidateOut(identity=IdentityRef.of_candidate(hit), similarity=round(hit.similarity, 6),
                     score=round(hit.score, 6), face_id=hit.face_id, enrolled_faces=hit.faces, threshold=decide(hit.faces).threshold)
        for hit in hits
    ]
    best = candidates[0] if candidates else None
    threshold = best.threshold if best is not None else decide(1).threshold
    match = best if best is not None and threshold is not None and best.score >= threshold else None
    return FaceIdentification(face=FaceOut.of(face.face), candidates=candidates, match=match, threshold=threshold,
                              crop=crop_data_url(face.crop) if with_crop else None)
