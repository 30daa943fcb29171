"""Cohort score normalisation: the shift is the mean of each vector's top-K cohort cosines, and a face that
resembles the whole cohort loses more of its score than one that resembles nobody."""

from __future__ import annotations

import numpy as np
import pytest

from service.vision.cohort import Cohort, normalised


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
