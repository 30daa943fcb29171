"""GET /v1/gallery/separability: how far apart the enrolled identities are (RegularFace's Sep), and what to check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from service.api import deps
from service.api.responses import CLIENT, PARAMS, error_responses
from service.api.routes import API_PREFIX
from service.api.routes.identities import Limit, Offset, Sessions
from service.api.schemas import (
    ConfusablePairOut,
    GalleryHealth,
    IdentityRef,
    NeighbourOut,
    PageOut,
    SepSummary,
    StrayFaceOut,
)
from service.decisions import identify_decision
from service.gallery import repository
from service.gallery.separability import gallery_separability

router = APIRouter(prefix=API_PREFIX, dependencies=[deps.query_checked])

Count = Annotated[int, Query(ge=0, le=500)]


@router.get("/gallery/separability", response_model=GalleryHealth, dependencies=[deps.client],
            responses=error_responses(*CLIENT, *PARAMS), summary="Gallery health: inter-identity separability",
            description="RegularFace's Sep over the enrolled identities of the active model: each identity's "
                        "centre is the normalised mean of its face embeddings, Sep_i the cosine to the nearest "
                        "other centre. Also the most confusable pairs and the faces nearer another identity's "
                        "centre than their own (likely mis-enrolments). Reads every face of the active model and "
                        "compares each with every centre: time grows as faces × identities.")
def separability(request: Request, sessions: Sessions, offset: Offset = 0, limit: Limit = 50, pairs: Count = 10,
                 strays: Count = 50) -> GalleryHealth:
    gallery, card = deps.gallery_of(request), deps.pipeline_of(request).embedder.card
    scoring = gallery.scoring
    with sessions() as session:
        face_ids, owners, vectors = repository.load_labelled_embeddings(session, gallery.embedder, gallery.dim)
        found = gallery_separability(face_ids, owners, vectors, pairs, gallery.index_settings.threads)
        page = found.neighbours[offset : offset + limit]
        stray_page = found.strays[:strays]
        named = {n.identity_id for n in page} | {n.nearest_id for n in page}
        named |= {p.identity_a for p in found.pairs} | {p.identity_b for p in found.pairs}
        named |= {s.identity_id for s in stray_page} | {s.other_id for s in stray_page}
        refs = {key: IdentityRef.of(row) for key, row in repository.identities_by_id(session, list(named)).items()}
    # an identity deleted since its faces were read is left out
    page = [n for n in page if n.identity_id in refs and n.nearest_id in refs]
    found_pairs = [p for p in found.pairs if p.identity_a in refs and p.identity_b in refs]
    stray_page = [s for s in stray_page if s.identity_id in refs and s.other_id in refs]
    row_of = {face_id: row for row, face_id in enumerate(face_ids.tolist())}
    face_scores = [scoring.pair(vectors[row_of[p.face_a]], vectors[row_of[p.face_b]])[1] for p in found_pairs]
    return GalleryHealth(
        model=card.name, identities=found.identities, faces=found.faces, identify_threshold=identify_decision(card, None, None, 1, found.identities).threshold,
        sep=None if found.sep_mean is None else SepSummary(mean=round(found.sep_mean, 6), std=round(found.sep_std, 6)),
        neighbours=PageOut(items=[NeighbourOut(identity=refs[n.identity_id], faces=n.faces,
                                               nearest=refs[n.nearest_id], cosine=round(n.cosine, 6)) for n in page],
                           total=len(found.neighbours), offset=offset, limit=limit),
        pairs=[ConfusablePairOut(identity_a=refs[p.identity_a], identity_b=refs[p.identity_b],
                                 cosine=round(p.cosine, 6), face_a=p.face_a, face_b=p.face_b,
                                 face_similarity=round(p.face_similarity, 6), face_score=round(score, 6))
               for p, score in zip(found_pairs, face_scores)],
        strays=[StrayFaceOut(identity=refs[s.identity_id], face_id=s.face_id, own_cosine=round(s.own_cosine, 6),
                             nearest=refs[s.other_id], cosine=round(s.other_cosine, 6)) for s in stray_page],
        strays_total=len(found.strays),
    )
