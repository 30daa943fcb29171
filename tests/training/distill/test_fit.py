"""The student's fit to the teacher: the loss terms' own values, and a perfect fit where the student is the teacher."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from training.distill.fit import measure_fit, sample  # noqa: E402
from training.losses.distill import DistillLoss  # noqa: E402


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_the_fit_is_one_minus_the_feature_term_and_the_root_of_the_relational_term() -> None:
    rng = np.random.default_rng(0)
    features, teacher = rng.normal(size=(12, 16)).astype(np.float32), _unit(rng.normal(size=(12, 8)) + 2.0)
    mean = teacher.mean(axis=0)
    loss = DistillLoss(16, 8, relation_weight=1.0, teacher_mean=torch.from_numpy(mean))
    terms = loss(torch.from_numpy(features), torch.from_numpy(teacher))
    fit = measure_fit(features, teacher, loss.projection.weight.detach().numpy(), mean, "set", True)
    assert fit.feature_cosine == pytest.approx(1 - terms.feature.item(), abs=1e-5)
    assert fit.relation_rmse == pytest.approx(np.sqrt(terms.relation.item()), abs=1e-5)
    assert fit.count == 12 and -1 <= fit.relation_r <= 1


def test_a_student_equal_to_the_teacher_fits_perfectly() -> None:
    teacher = _unit(np.random.default_rng(1).normal(size=(10, 8)))
    fit = measure_fit(teacher, teacher, np.eye(8, dtype=np.float32), np.zeros(8, np.float32), "set", False)
    assert fit.feature_cosine == pytest.approx(1.0)
    assert fit.relation_rmse == pytest.approx(0.0, abs=1e-6) and fit.relation_r == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least two faces"):
        measure_fit(teacher[:1], teacher[:1], np.eye(8), np.zeros(8), "one", False)


def test_the_sample_is_seeded_sorted_and_whole_when_small() -> None:
    assert sample(5, 10).tolist() == [0, 1, 2, 3, 4]
    drawn = sample(1000, 50)
    assert len(set(drawn.tolist())) == 50 and (np.diff(drawn) > 0).all() and (drawn == sample(1000, 50)).all()
