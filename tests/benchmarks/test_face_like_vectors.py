"""The face-like gallery generator: the two-covariance fit recovers known statistics; calibration hits its target."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.face_like_vectors import TwoCovariance, calibrate_within, cosine_stats, fit

DIM = 16


@pytest.fixture(scope="module")
def known() -> TwoCovariance:
    rng = np.random.default_rng(0)
    between = np.diag(np.linspace(1.0, 0.2, DIM)).astype(np.float32)
    within = (0.5 * np.eye(DIM) + 0.05 * rng.standard_normal((DIM, DIM))).astype(np.float32)
    return TwoCovariance(np.full(DIM, 0.3, np.float32), between, within)


def test_fit_recovers_the_covariances(known: TwoCovariance) -> None:
    rng = np.random.default_rng(1)
    centres = known.mean + rng.standard_normal((4000, DIM)) @ known.between
    labels = np.repeat(np.arange(4000), 5)
    vectors = centres[labels] + rng.standard_normal((len(labels), DIM)) @ known.within
    fitted = fit(vectors, labels)
    within_cov = fitted.within.T @ fitted.within
    np.testing.assert_allclose(within_cov, known.within.T @ known.within, atol=0.02)
    # identity means carry within/5 on top of the between covariance
    expected_between = known.between.T @ known.between + known.within.T @ known.within / 5
    np.testing.assert_allclose(fitted.between.T @ fitted.between, expected_between, atol=0.08)
    np.testing.assert_allclose(fitted.mean, known.mean, atol=0.05)


def test_samples_are_unit_and_labelled(known: TwoCovariance) -> None:
    faces, labels, centres = known.sample(50, 4, seed=0)
    assert faces.shape == (200, DIM) and centres.shape == (50, DIM)
    np.testing.assert_allclose(np.linalg.norm(faces, axis=1), 1.0, atol=1e-5)
    assert labels.tolist() == np.repeat(np.arange(50), 4).tolist()
    stats = cosine_stats(faces, labels, 2000, 0)
    assert stats["same_mean"] > stats["different_mean"] + 0.2


@pytest.mark.parametrize("target", [0.3, 0.6])
def test_calibration_matches_the_same_person_cosine(known: TwoCovariance, target: float) -> None:
    calibrated = calibrate_within(known, target)
    faces, labels, _ = calibrated.sample(3000, 2, seed=5)
    assert cosine_stats(faces, labels, 3000, 1)["same_mean"] == pytest.approx(target, abs=0.02)
