"""The enrolment warning: a new face that matches another identity better than the identity it is enrolled under."""

from __future__ import annotations

import numpy as np

from service.api.schemas import EnrolWarning, IdentityRef
from service.decisions import identify_decision
from service.gallery import repository
from service.gallery.gallery import Candidate, Gallery
from service.gallery.templates import mean_template
from service.vision.model_card import ModelCard


def lookalike_warnings(gallery: Gallery, identity_id: int, vectors: np.ndarray, shas: list[str],
                       card: ModelCard) -> list[EnrolWarning | None]:
    """One warning or None per new face, checked before the faces are stored.

    vectors: (n, D) unit embeddings of the new faces, shas their images' sha256. A face is scored, as /identify
    scores identities (gallery.scoring), against the template of the identity's own faces (stored ones and the request's other new
    images) and with the best other identity in the gallery; it is warned about when that identity matches
    better, or, when the identity has no other face, when that identity reaches the threshold /identify would
    hold it to at the card's default FAR. Blocking (SQL).
    """
    with gallery.session_factory() as session:
        _, stored = repository.load_embeddings(session, gallery.embedder, gallery.dim, identity_id=identity_id)
    rivals = [next((c for c in gallery.search(vector, top_k=2) if c.identity_id != identity_id), None)
              for vector in vectors]
    scoring = gallery.scoring
    warnings = []
    for k, (vector, rival) in enumerate(zip(vectors, rivals)):
        # the same image twice in one request is one face, not evidence of its own
        mates = [vectors[j] for j in range(len(vectors)) if shas[j] != shas[k]]
        own_vectors = np.concatenate([stored, np.reshape(mates, (-1, stored.shape[1]))])
        own = scoring.pair(mean_template(own_vectors), vector)[1] if len(own_vectors) else None
        threshold = None if rival is None else identify_decision(card, None, None, rival.faces, gallery.identities).threshold
        warned = rival is not None and (
            rival.score > own if own is not None else threshold is not None and rival.score >= threshold)
        warnings.append(_warning(rival, IdentityRef.of_candidate(rival), own, threshold) if warned else None)
    return warnings


def _warning(rival: Candidate, other: IdentityRef, own: float | None, threshold: float | None) -> EnrolWarning:
    if own is not None:
        why = f"more than this identity's own faces (score {own:.3f} against their template)"
    else:
        why = (f"enough for /identify to name them (threshold {threshold:.3f}), and this identity has no other face "
               "to compare")
    return EnrolWarning(message=f"this face resembles {other.name!r} (score {rival.score:.3f}) {why}; "
                                "check that it was enrolled under the right identity",
                        identity=other, face_id=rival.face_id, similarity=round(rival.similarity, 6),
                        score=round(rival.score, 6), own_score=None if own is None else round(own, 6))
