"""Distillation terms on fixed tensors: values by hand, gradients against finite differences, zero at the teacher."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from training.losses.distill import DistillLoss, feature_term, relation_term  # noqa: E402


def test_feature_term_by_hand() -> None:
    projected = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    teacher = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, -1.0]])
    # cosines 1, 0, -1 -> (0 + 1 + 2) / 3
    assert feature_term(projected, teacher).item() == pytest.approx(1.0)


def test_relation_term_by_hand() -> None:
    student = torch.tensor([[1.0, 0.0, 0.0], [0.0, 3.0, 0.0]])  # cosine 0
    teacher = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # cosine 1/sqrt(2)
    # two off-diagonal entries, each (0 - 1/sqrt(2))^2 = 1/2
    assert relation_term(student, teacher).item() == pytest.approx(0.5)
    with pytest.raises(ValueError):
        relation_term(student[:1], teacher[:1])


def test_gradients_match_finite_differences() -> None:
    gen = torch.Generator().manual_seed(0)
    student = torch.randn(5, 6, dtype=torch.float64, generator=gen, requires_grad=True)
    teacher = torch.randn(5, 4, dtype=torch.float64, generator=gen)
    projected = torch.randn(5, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: relation_term(s, teacher), (student,))
    assert torch.autograd.gradcheck(lambda p: feature_term(p, teacher), (projected,))


def test_zero_when_the_student_equals_the_teacher() -> None:
    teacher = torch.nn.functional.normalize(torch.randn(8, 4, generator=torch.Generator().manual_seed(1)), dim=1)
    loss = DistillLoss(4, 4, relation_weight=2.0)
    with torch.no_grad():
        loss.projection.weight.copy_(torch.eye(4))
    terms = loss(3.0 * teacher, teacher)  # scale does not matter: both terms compare directions
    assert terms.feature.item() == pytest.approx(0.0, abs=1e-6)
    assert terms.relation.item() == pytest.approx(0.0, abs=1e-6)
    assert terms.total.item() == pytest.approx(0.0, abs=1e-6)


def test_total_weights_relation_and_skips_rows_without_a_teacher() -> None:
    gen = torch.Generator().manual_seed(2)
    features, teacher = torch.randn(6, 8, generator=gen), torch.randn(6, 4, generator=gen)
    loss = DistillLoss(8, 4, relation_weight=3.0)
    terms = loss(features, teacher)
    assert terms.total.item() == pytest.approx(terms.feature.item() + 3.0 * terms.relation.item(), rel=1e-6)
    missing = torch.cat([teacher[:4], torch.zeros(2, 4)])
    partial = loss(features, missing)
    assert partial.total.item() == pytest.approx(loss(features[:4], teacher[:4]).total.item(), rel=1e-6)
    nothing = loss(features, torch.zeros(6, 4))
    assert nothing.total.item() == 0.0


def test_relation_targets_map_the_offset_to_zero_and_keep_one() -> None:
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])  # cosines 0 (i, j = 0, 1) and 1 (0, 2)
    angle = torch.arccos(torch.tensor(0.8))
    teacher = torch.tensor([[1.0, 0.0], [torch.cos(angle), torch.sin(angle)], [1.0, 0.0]])  # cosines 0.8 and 1
    assert relation_term(student, teacher, offset=0.8).item() == pytest.approx(0.0, abs=1e-6)
    # without the map the pairs (0, 1), (1, 2) miss by 0.8 each: 4 of 6 entries
    assert relation_term(student, teacher).item() == pytest.approx(4 * 0.64 / 6, rel=1e-5)


def test_the_feature_term_aims_at_the_teacher_minus_its_mean() -> None:
    mean = torch.tensor([0.9, 0.0])
    teacher = torch.tensor([[0.9, 0.43589], [0.9, -0.43589]])  # both 0.9 along the mean, apart across it
    loss = DistillLoss(2, 2, relation_weight=0.0, teacher_mean=mean)
    with torch.no_grad():
        loss.projection.weight.copy_(torch.eye(2))
    assert loss(torch.tensor([[0.0, 1.0], [0.0, -1.0]]), teacher).feature.item() == pytest.approx(0.0, abs=1e-6)
    assert loss(teacher, teacher).feature.item() > 0.5  # the raw teacher direction is not the target
    assert torch.equal(loss.state_dict()["teacher_mean"], mean)  # saved with the checkpoint
