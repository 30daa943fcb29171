"""Cohort score normalisation: the shift is the mean of each vector's top-K cohort cosines, a face that resembles
the whole cohort loses more of its score than one that resembles nobody, index rows rank by score, and a shipped
cohort loads only as its card names it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.errors import ErrorCode, FaceverError
from service.vision.cohort import CHUNK, COHORT_FILE, Cohort, Scoring, load_cohort, normalised, save_cohort


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_shifts_are_the_mean_of_the_top_k_cohort_cosines() -> None:
    rng = np.random.default_rng(0)
    cohort = Cohort(_unit(rng.normal(size=(50, 8))), top_k=5)
    probes = _unit(rng.normal(size=(4, 8)))
    brute = np.sort(probes @ cohort.vectors.T, axis=1)[:, -5:].mean(axis=1)
    assert cohort.shifts(probes) == pytest.approx(brute, abs=1e-6)
    assert cohort.shifts(probes[0]).shape == (1,)  # one vector is a batch of one


def test_a_score_is_the_cosine_less_the_mean_of_both_shifts() -> None:
    assert normalised(0.6, 0.2, 0.4) == pytest.approx(0.3)
    one_probe = normalised(np.array([[0.5, 0.7]]), np.array([[0.1]]), np.array([[0.3, 0.5]]))
    assert one_probe == pytest.approx(np.array([[0.3, 0.4]]))


def test_a_face_close_to_the_whole_cohort_is_shifted_more_than_an_outlier() -> None:
    rng = np.random.default_rng(1)
    centre = _unit(rng.normal(size=(1, 16)))
    cohort = Cohort(_unit(centre + 0.5 * rng.normal(size=(200, 16))), top_k=10)
    typical, outlier = centre, _unit(-centre + 0.1 * rng.normal(size=(1, 16)))
    assert cohort.shifts(typical)[0] > 0.5 > cohort.shifts(outlier)[0]


@pytest.mark.parametrize("vectors,top_k", [(np.ones((3, 4), np.float32), 0), (np.ones((3, 4), np.float32), 4),
                                           (np.ones(4, np.float32), 1)])
def test_a_cohort_needs_rows_and_a_top_k_it_can_fill(vectors: np.ndarray, top_k: int) -> None:
    with pytest.raises(ValueError, match="cohort needs"):
        Cohort(vectors, top_k)


def test_without_a_cohort_the_score_is_the_cosine() -> None:
    rng = np.random.default_rng(2)
    a, b = _unit(rng.normal(size=(2, 8)))
    plain = Scoring()
    assert plain.pair(a, b) == pytest.approx((float(a @ b), float(a @ b)))
    assert plain.index_dims == 0 and np.array_equal(plain.index_rows(a[None]), a[None])
    assert np.array_equal(plain.shifts(np.stack([a, b])), np.zeros(2, np.float32))


def test_index_rows_rank_templates_by_score() -> None:
    """The inner product of an index row with the query is the score less the probe's half shift, the same
    for every template of one probe: ranking by it is ranking by score."""
    rng = np.random.default_rng(3)
    scoring = Scoring(Cohort(_unit(rng.normal(size=(40, 8))), top_k=4))
    templates, probe = _unit(rng.normal(size=(12, 8))), _unit(rng.normal(size=(1, 8)))[0]
    inner = scoring.index_rows(templates) @ scoring.index_query(probe)
    scores = scoring.score(templates @ probe, scoring.shifts(probe)[0], scoring.shifts(templates))
    assert scoring.index_dims == 1 and scoring.index_rows(templates).shape == (12, 9)
    assert inner - scoring.shifts(probe)[0] / 2 == pytest.approx(scores, abs=1e-6)
    assert scoring.pair(templates[0], probe)[1] == pytest.approx(float(scores[0]), abs=1e-6)


def test_shifts_go_in_chunks_with_the_same_values() -> None:
    rng = np.random.default_rng(4)
    cohort = Cohort(_unit(rng.normal(size=(30, 6))), top_k=3)
    many = _unit(rng.normal(size=(CHUNK + 5, 6)))
    brute = np.sort(many @ cohort.vectors.T, axis=1)[:, -3:].mean(axis=1)
    assert cohort.shifts(many) == pytest.approx(brute, abs=1e-6)


def test_a_saved_cohort_loads_as_its_card_names_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    cohort = Cohort(_unit(rng.normal(size=(20, 8))), top_k=4)
    spec = save_cohort(tmp_path, cohort, "twenty random vectors")
    assert (spec.faces, spec.top_k) == (20, 4) and np.load(tmp_path / COHORT_FILE).dtype == np.float16
    loaded = load_cohort(tmp_path, spec, 8)
    assert loaded.top_k == 4 and loaded.vectors == pytest.approx(cohort.vectors, abs=2e-3)
    assert np.linalg.norm(loaded.vectors, axis=1) == pytest.approx(np.ones(20), abs=1e-6)


@pytest.mark.parametrize("damage,message", [("missing", "is missing"), ("changed", "does not match"),
                                            ("shape", "the card says")])
def test_a_cohort_that_is_not_the_cards_is_refused(tmp_path: Path, damage: str, message: str) -> None:
    spec = save_cohort(tmp_path, Cohort(_unit(np.random.default_rng(6).normal(size=(20, 8))), top_k=4), "x")
    path = tmp_path / COHORT_FILE
    if damage == "missing":
        path.unlink()
    elif damage == "changed":
        np.save(path, np.zeros((20, 8), np.float16))
    dim = 9 if damage == "shape" else 8
    with pytest.raises(FaceverError, match=message) as caught:
        load_cohort(tmp_path, spec, dim)
    assert caught.value.code == ErrorCode.invalid_model
