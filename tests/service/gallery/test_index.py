"""FaceIndex kinds against exact search on clustered random unit vectors; removals; fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from service.gallery.index import FaceIndex
from tests.service.gallery.vectors import clusters, unit

DIM = 64
PARAMS = {
    "flat": {},
    "ivf": {"nlist": 16, "nprobe": 4},
    "hnsw": {"M": 16},
    "hnsw-pca": {"dims": 32, "M": 16},
    "sq8": {},
}


@pytest.fixture(scope="module")
def gallery_vectors() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, vectors, queries): 300 identities x 10 faces, one fresh query near each identity."""
    rng = np.random.default_rng(0)
    centres, faces = clusters(rng, 300, 10, DIM)
    vectors = faces.reshape(-1, DIM)
    queries = unit(centres + rng.normal(scale=0.05, size=centres.shape))
    return np.arange(len(vectors), dtype=np.int64) * 7 + 3, vectors, queries


@pytest.mark.parametrize("kind", list(PARAMS))
def test_kind_finds_the_nearest_neighbours(kind: str, gallery_vectors) -> None:
    ids, vectors, queries = gallery_vectors
    exact = FaceIndex.build(DIM, "flat", {}, ids, vectors)
    index = FaceIndex.build(DIM, kind, PARAMS[kind], ids, vectors)
    assert index.effective_kind == kind and len(index) == len(ids)
    k = 10
    exact_scores, exact_ids = exact.search(queries, k)
    scores, found = index.search(queries, k)
    # each query's own identity holds its 10 nearest faces (ids of identity i: rows 10i..10i+9)
    own = ids.reshape(300, 10)
    assert all(set(row) == set(own[i]) for i, row in enumerate(exact_ids))
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(found, exact_ids, strict=True)])
    assert recall >= (1.0 if kind == "flat" else 0.9)
    assert np.mean(found[:, 0] == exact_ids[:, 0]) >= 0.9
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    if kind == "flat":
        np.testing.assert_array_equal(found, exact_ids)
        np.testing.assert_allclose(scores, exact_scores)


@pytest.mark.parametrize("kind", list(PARAMS))
def test_removed_ids_never_come_back(kind: str, gallery_vectors) -> None:
    ids, vectors, queries = gallery_vectors
    index = FaceIndex.build(DIM, kind, PARAMS[kind], ids, vectors)
    removed = ids.reshape(300, 10)[:50].reshape(-1)  # every face of the first 50 identities
    index.remove(removed)
    index.remove(removed)  # idempotent
    assert len(index) == len(ids) - len(removed)
    _, found = index.search(queries[:50], 10)
    assert not np.isin(found, removed).any()
    assert (found >= 0).all()  # still k results: the search looks past the removed ones
    index.add(ids[-5:], vectors[-5:])  # already present: skipped
    assert len(index) == len(ids) - len(removed)


def test_hnsw_tombstones_ask_for_a_rebuild(gallery_vectors) -> None:
    ids, vectors, _ = gallery_vectors
    index = FaceIndex.build(DIM, "hnsw", {}, ids[:100], vectors[:100])
    index.remove(ids[:20])
    assert not index.needs_rebuild and index.ntotal == 100 and len(index) == 80
    index.remove(ids[20:21])
    assert index.needs_rebuild


@pytest.mark.parametrize("kind", ["ivf", "sq8", "hnsw-pca"])
def test_trainable_kinds_fall_back_to_flat_until_enough_vectors(kind: str, gallery_vectors) -> None:
    ids, vectors, queries = gallery_vectors
    index = FaceIndex.build(DIM, kind, PARAMS[kind], ids[:100], vectors[:100])
    assert index.effective_kind == "flat" and not index.needs_rebuild
    _, found = index.search(queries[:10], 1)
    np.testing.assert_array_equal(found[:, 0] // 70, np.arange(10))  # id 7r+3: row r = identity*10+j
    index.add(ids, vectors)
    assert index.needs_rebuild


def test_empty_index_and_short_results() -> None:
    index = FaceIndex(4)
    scores, found = index.search(np.ones(4), 3)
    assert found.tolist() == [[-1, -1, -1]] and np.isneginf(scores).all()
    index.add([5], unit(np.ones((1, 4))))
    scores, found = index.search(unit(np.ones(4)), 3)
    assert found.tolist() == [[5, -1, -1]] and scores[0, 0] == pytest.approx(1.0)


def test_rejects_unknown_kinds_and_params() -> None:
    with pytest.raises(ValueError, match="kind"):
        FaceIndex(4, "annoy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nprobe"):
        FaceIndex(4, "hnsw", {"nprobe": 3})
    with pytest.raises(ValueError, match="ids"):
        FaceIndex(4).add([1, 2], np.ones((1, 4)))


def test_tune_changes_search_params_without_a_rebuild(gallery_vectors) -> None:
    ids, vectors, queries = gallery_vectors
    index = FaceIndex.build(DIM, "ivf", {"nlist": 16, "nprobe": 1}, ids, vectors)
    exact = FaceIndex.build(DIM, "flat", {}, ids, vectors)
    index.tune(nprobe=16)  # every list: IVF becomes exact
    np.testing.assert_array_equal(index.search(queries, 5)[1], exact.search(queries, 5)[1])
    assert index.params["nprobe"] == 16
    with pytest.raises(ValueError, match="nlist"):
        index.tune(nlist=4)
    with pytest.raises(ValueError, match="tune only"):
        exact.tune(nprobe=2)


def test_hnsw_pca_scores_are_exact_cosines_and_refine_widens_the_candidates(gallery_vectors) -> None:
    ids, vectors, queries = gallery_vectors
    index = FaceIndex.build(DIM, "hnsw-pca", {"dims": 4, "M": 16, "ef_search": 16, "refine": 1}, ids, vectors)
    exact = FaceIndex.build(DIM, "flat", {}, ids, vectors)
    exact_ids = exact.search(queries, 1)[1][:, 0]
    narrow = np.mean(index.search(queries, 1)[1][:, 0] == exact_ids)
    index.tune(refine=50, ef_search=64)  # 50 candidates from the 4-D graph, re-scored on all 64 dims
    scores, found = index.search(queries, 5)
    assert np.mean(found[:, 0] == exact_ids) > narrow
    by_id = dict(zip(ids.tolist(), vectors, strict=True))
    rescored = [[float(by_id[i] @ q) for i in row] for row, q in zip(found, queries, strict=True)]
    np.testing.assert_allclose(scores, rescored, rtol=1e-5, atol=1e-6)  # full-vector scores, not 4-D ones


def test_ivf_trains_on_a_bounded_sample(gallery_vectors) -> None:
    ids, vectors, queries = gallery_vectors
    index = FaceIndex.build(DIM, "ivf", {"nlist": 4, "nprobe": 4}, ids, vectors)  # 3,000 > 64·4 vectors
    assert index.effective_kind == "ivf" and index.trained_on == len(vectors) and len(index) == len(ids)
    exact = FaceIndex.build(DIM, "flat", {}, ids, vectors)
    np.testing.assert_array_equal(index.search(queries, 5)[1], exact.search(queries, 5)[1])
