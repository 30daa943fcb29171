"""verify_folds, best_threshold and TAR@FAR on synthetic similarities with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluation import best_threshold, tar_at_far, verify_folds


def _folds(n: int, k: int = 10) -> np.ndarray:
    return np.arange(n) % k


def test_perfectly_separable_scores_are_100_percent_with_auc_1() -> None:
    rng = np.random.default_rng(0)
    same = np.arange(600) % 2 == 0
    sims = np.where(same, rng.uniform(0.5, 1.0, 600), rng.uniform(-0.2, 0.4, 600))
    result = verify_folds(sims, same, _folds(600))
    assert result.mean_accuracy == 1.0 and result.std_accuracy == 0.0 and result.auc == 1.0
    assert all(0.4 < t <= 0.5 for t in result.fold_thresholds)
    assert 0.4 < result.best_threshold.value <= 0.5 and result.best_threshold.accuracy == 1.0
    assert result.n_pairs == 600 and result.n_same == 300 and len(result.fold_accuracies) == 10


def test_random_scores_are_about_50_percent() -> None:
    rng = np.random.default_rng(1)
    same = rng.random(6000) < 0.5
    result = verify_folds(rng.random(6000), same, _folds(6000))
    assert 0.45 < result.mean_accuracy < 0.55
    assert 0.47 < result.auc < 0.53


def test_each_fold_threshold_comes_from_the_other_folds_only() -> None:
    # folds 1-9 separate at 0.5; fold 0's pairs sit at 0.45 / 0.3, perfectly separable only by a threshold
    # fitted on fold 0 itself. Without a leak fold 0 is all rejected: 50 %; a leak would give 100 %.
    folds = np.repeat(np.arange(10), 20)
    same = np.tile(np.arange(20) < 10, 10)
    sims = np.where(same, 0.8, 0.2)
    sims[folds == 0] = np.where(same[folds == 0], 0.45, 0.3)
    result = verify_folds(sims, same, folds)
    assert result.fold_accuracies[0] == 0.5
    assert result.fold_accuracies[1:] == (1.0,) * 9
    assert result.mean_accuracy == pytest.approx(0.95)
    assert result.fold_thresholds[0] == pytest.approx(0.5)  # midpoint of the 0.2 / 0.8 gap
    assert 0.3 < result.fold_thresholds[1] <= 0.45  # folds 1-9 each see fold 0 among their nine


def test_best_threshold_handles_ties_and_the_accept_nothing_cut() -> None:
    assert best_threshold(np.array([0.5, 0.5, 0.9]), np.array([False, False, True])).accuracy == 1.0
    everything_negative_high = best_threshold(np.array([0.9, 0.1]), np.array([False, False]))
    assert everything_negative_high.accuracy == 1.0 and everything_negative_high.value > 0.9


def test_tar_at_far_on_a_constructed_case() -> None:
    # 2000 negatives evenly in [0, 1); 100 positives, 90 at 0.999.. (above every negative), 10 at 0.5
    negatives = np.arange(2000) / 2000
    positives = np.r_[np.full(90, 0.9999), np.full(10, 0.5)]
    sims = np.r_[negatives, positives]
    same = np.r_[np.zeros(2000, bool), np.ones(100, bool)]
    at_1e3, at_1e4 = tar_at_far(sims, same, (1e-3, 1e-4))
    # FAR 1e-3 allows 2 false accepts (0.9995, 0.999): still only the 90 high positives clear 0.999
    assert at_1e3.tar == pytest.approx(0.9) and at_1e3.threshold == pytest.approx(0.999)
    assert at_1e3.reliable and at_1e3.negatives == 2000
    # FAR 1e-4 x 2000 negatives < 1 false accept: threshold above every negative, flagged unreliable
    assert at_1e4.tar == pytest.approx(0.9) and at_1e4.threshold > negatives.max()
    assert not at_1e4.reliable


def test_tar_at_far_threshold_stays_finite_when_the_top_score_is_negative() -> None:
    (point,) = tar_at_far(np.array([0.9, 0.5, 0.1]), np.array([False, True, False]), (1e-3,))
    assert point.tar == 0.0 and np.isfinite(point.threshold) and point.threshold > 0.9


def test_verify_folds_rejects_one_class_or_one_fold() -> None:
    with pytest.raises(ValueError, match="both"):
        verify_folds(np.ones(4), np.ones(4, bool), _folds(4, 2))
    with pytest.raises(ValueError, match="2 folds"):
        verify_folds(np.arange(4.0), np.arange(4) % 2 == 0, np.zeros(4))


def test_best_threshold_reports_its_false_accept_and_reject_rates() -> None:
    sims = np.array([0.1, 0.2, 0.6, 0.65, 0.5, 0.8, 0.9, 0.95])
    same = np.array([False, False, False, False, True, True, True, True])
    t = best_threshold(sims, same)  # the one best cut lies in (0.65, 0.8): the genuine pair at 0.5 is refused
    accepted = sims >= t.value
    assert t.far == np.mean(accepted[~same]) and t.frr == np.mean(~accepted[same])
    assert (t.far, t.frr) == (0.0, 0.25) and t.accuracy == 7 / 8
