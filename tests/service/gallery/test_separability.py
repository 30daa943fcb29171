"""gallery_separability against a brute-force reading of its definition, and its edge cases.

The vectors are random unit vectors: this checks the arithmetic (nearest other centre, pairs once, leave-one-out
strays) on a gallery larger than the API tests enrol; the API tests check it on real faces."""

from __future__ import annotations

import numpy as np
import pytest

from service.gallery.separability import gallery_separability


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def gallery() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """40 identities of 1 to 4 faces around their own random direction, in 64-D; identity 7's last face is
    a face of identity 3."""
    rng = np.random.default_rng(0)
    directions = _unit(rng.normal(size=(40, 64)))
    owners = np.repeat(np.arange(100, 140), rng.integers(1, 5, size=40))
    vectors = _unit(directions[owners - 100] + 0.6 * _unit(rng.normal(size=(len(owners), 64))))
    last_of_7 = np.flatnonzero(owners == 107)[-1]
    vectors[last_of_7] = _unit(directions[3] + 0.1 * rng.normal(size=64))
    return np.arange(1, len(owners) + 1, dtype=np.int64), owners.astype(np.int64), vectors


def test_sep_pairs_and_strays_follow_their_definitions(gallery):
    face_ids, owners, vectors = gallery
    found = gallery_separability(face_ids, owners, vectors, max_pairs=5)
    ids = np.unique(owners)
    centres = _unit(np.stack([vectors[owners == i].sum(axis=0) for i in ids]))
    cosines = centres @ centres.T
    np.fill_diagonal(cosines, -np.inf)
    expected = {int(i): (int(ids[np.argmax(row)]), float(row.max())) for i, row in zip(ids, cosines)}
    assert {n.identity_id: n.nearest_id for n in found.neighbours} == {k: v[0] for k, v in expected.items()}
    assert [n.cosine for n in found.neighbours] == pytest.approx(sorted((v[1] for v in expected.values()),
                                                                        reverse=True), abs=1e-5)
    assert found.sep_mean == pytest.approx(np.mean([v[1] for v in expected.values()]), abs=1e-5)
    assert found.sep_std == pytest.approx(np.std([v[1] for v in expected.values()]), abs=1e-5)

    keys = [frozenset((p.identity_a, p.identity_b)) for p in found.pairs]
    assert len(found.pairs) == 5 and len(set(keys)) == 5
    assert found.pairs[0].cosine == pytest.approx(found.neighbours[0].cosine)
    for pair in found.pairs:  # the closest faces across the pair, by brute force
        cross = vectors[owners == pair.identity_a] @ vectors[owners == pair.identity_b].T
        assert pair.face_similarity == pytest.approx(float(cross.max()), abs=1e-5)

    strays = set()
    for k, (owner, vector) in enumerate(zip(owners, vectors)):
        mates = vectors[(owners == owner) & (np.arange(len(owners)) != k)]
        if len(mates):
            own = vector @ _unit(mates.sum(axis=0))
            other = max(vector @ centres[j] for j, i in enumerate(ids) if i != owner)
            if other > own:
                strays.add(int(face_ids[k]))
    assert {s.face_id for s in found.strays} == strays
    misplaced = int(face_ids[np.flatnonzero(owners == 107)[-1]])
    assert any(s.face_id == misplaced and s.other_id == 103 for s in found.strays)
    leads = [s.other_cosine - s.own_cosine for s in found.strays]
    assert leads == sorted(leads, reverse=True)


def test_fewer_than_two_identities_have_no_separability():
    vectors = _unit(np.random.default_rng(1).normal(size=(3, 8)))
    for owners in (np.array([5, 5, 5]), np.array([], dtype=np.int64)):
        found = gallery_separability(np.arange(len(owners)), owners, vectors[: len(owners)])
        assert (found.neighbours, found.pairs, found.strays, found.sep_mean) == ([], [], [], None)


def test_identities_of_one_face_have_no_strays_to_check():
    vectors = _unit(np.random.default_rng(2).normal(size=(3, 8)))
    found = gallery_separability(np.array([1, 2, 3]), np.array([1, 2, 3]), vectors)
    assert len(found.neighbours) == 3 and found.strays == []
