"""Gallery health: how far apart the enrolled identities are, in RegularFace's terms.

RegularFace (Eq. 6) measures inter-class separability as Sep_i = max_{j≠i} cos(W_i, W_j), W_i the centre of class
i; training.sep computes it over a trained classifier's weights. Here the centre of an identity is its template:
the normalised mean of its unit face embeddings. A high Sep_i means identity i sits close to another one, so a
probe of either is easily confused with the other; a face nearer another identity's centre than its own
identity's (left out of it) is a likely mis-enrolment.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from service.gallery.templates import unit_rows


@dataclass(frozen=True)
class Neighbour:
    """An identity's nearest other identity: Sep_i and the j that attains it."""

    identity_id: int
    faces: int
    nearest_id: int
    cosine: float


@dataclass(frozen=True)
class ConfusablePair:
    """Two identities whose centres are close, and their two faces (one each) that are closest."""

    identity_a: int
    identity_b: int
    cosine: float  # of the centres
    face_a: int
    face_b: int
    face_similarity: float


@dataclass(frozen=True)
class StrayFace:
    """A face nearer another identity's centre than its own identity's centre (computed without it)."""

    face_id: int
    identity_id: int
    own_cosine: float
    other_id: int
    other_cosine: float


@dataclass(frozen=True)
class GallerySeparability:
    """Sep over the identities with faces; empty lists when fewer than two identities have faces."""

    identities: int
    faces: int
    neighbours: list[Neighbour]  # most confusable first
    pairs: list[ConfusablePair]  # most confusable first, each pair once
    strays: list[StrayFace]  # largest lead of the other identity first

    @property
    def sep_mean(self) -> float | None:
        """Mean of Sep_i over identities (smaller = better separated), as RegularFace's Table 1 reports it."""
        return float(np.mean([n.cosine for n in self.neighbours])) if self.neighbours else None

    @property
    def sep_std(self) -> float | None:
        """Population standard deviation (ddof 0) of Sep_i over identities."""
        return float(np.std([n.cosine for n in self.neighbours])) if self.neighbours else None


def gallery_separability(face_ids: np.ndarray, owners: np.ndarray, vectors: np.ndarray, max_pairs: int = 10,
                         threads: int = 0) -> GallerySeparability:
    """Sep per identity, the `max_pairs` most confusable pairs and every stray face.

    face_ids, owners: int64 (n,), owners (identity ids) sorted ascending; vectors: float32 (n, D) unit embeddings.
    Time grows as n·C·D for C identities (exact search on `threads` OpenMP threads; 0: FAISS's default).
    """
    if threads:
        faiss.omp_set_num_threads(threads)  # per calling thread, as FaceIndex does
    identity_ids, starts, counts = np.unique(owners, return_index=True, return_counts=True)
    if len(identity_ids) < 2:
        return GallerySeparability(len(identity_ids), len(face_ids), [], [], [])
    sums = np.add.reduceat(vectors, starts, axis=0)
    centres = unit_rows(sums)
    own = np.repeat(np.arange(len(identity_ids)), counts)  # each face's row in `centres`
    sep, nearest = _nearest_other(centres, centres, np.arange(len(identity_ids)))
    order = np.argsort(-sep, kind="stable")
    neighbours = [Neighbour(int(identity_ids[i]), int(counts[i]), int(identity_ids[nearest[i]]), float(sep[i]))
                  for i in order]
    pairs = [_pair(a, b, float(sep[a]), identity_ids, starts, counts, face_ids, vectors)
             for a, b in _unique_pairs(order, nearest)[:max_pairs]]
    return GallerySeparability(len(identity_ids), len(face_ids), neighbours, pairs,
                               _strays(face_ids, identity_ids, counts, sums, centres, own, vectors))


def _nearest_other(queries: np.ndarray, centres: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query row: the largest cosine to a centre other than its own row `own`, and that centre's row."""
    scores, rows = faiss.knn(np.ascontiguousarray(queries), np.ascontiguousarray(centres), 2,
                             metric=faiss.METRIC_INNER_PRODUCT)
    take = (rows[:, 0] == own).astype(np.int64)  # the own centre comes first unless another ties or beats it
    picked = np.arange(len(rows))
    return scores[picked, take], rows[picked, take]


def _unique_pairs(order: np.ndarray, nearest: np.ndarray) -> list[tuple[int, int]]:
    """(i, nearest[i]) in `order`, each unordered pair once (mutual nearest neighbours come up twice)."""
    seen: set[tuple[int, int]] = set()
    pairs = []
    for i in order:
        key = (min(int(i), int(nearest[i])), max(int(i), int(nearest[i])))
        if key not in seen:
            seen.add(key)
            pairs.append((int(i), int(nearest[i])))
    return pairs


def _pair(a: int, b: int, cosine: float, identity_ids: np.ndarray, starts: np.ndarray, counts: np.ndarray,
          face_ids: np.ndarray, vectors: np.ndarray) -> ConfusablePair:
    rows_a = slice(starts[a], starts[a] + counts[a])
    rows_b = slice(starts[b], starts[b] + counts[b])
    similarities = vectors[rows_a] @ vectors[rows_b].T
    i, j = np.unravel_index(int(np.argmax(similarities)), similarities.shape)
    return ConfusablePair(int(identity_ids[a]), int(identity_ids[b]), cosine, int(face_ids[rows_a][i]),
                          int(face_ids[rows_b][j]), float(similarities[i, j]))


def _strays(face_ids: np.ndarray, identity_ids: np.ndarray, counts: np.ndarray, sums: np.ndarray,
            centres: np.ndarray, own: np.ndarray, vectors: np.ndarray) -> list[StrayFace]:
    # the own centre without the face itself, else every face would count itself in its favour;
    # an identity with a single face has no centre left to compare with
    kept = counts[own] >= 2
    if not kept.any():
        return []
    rest = sums[own[kept]] - vectors[kept]
    own_cosine = np.einsum("nd,nd->n", vectors[kept], unit_rows(rest))
    other_cosine, other = _nearest_other(vectors[kept], centres, own[kept])
    lead = other_cosine - own_cosine
    found = np.flatnonzero(lead > 0)
    rows = np.flatnonzero(kept)
    return [StrayFace(int(face_ids[rows[k]]), int(identity_ids[own[rows[k]]]), float(own_cosine[k]),
                      int(identity_ids[other[k]]), float(other_cosine[k]))
            for k in found[np.argsort(-lead[found], kind="stable")]]
