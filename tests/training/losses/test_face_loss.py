"""FaceLoss: the terms add up as base + λ*·L_r + β·L_IAM + w·L_C, and after_step projects W and moves centres."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from training.losses import FaceLoss, LossConfig, exclusive_regularization, iam_loss

N, D, C = 10, 8, 6


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(N, D, generator=gen, requires_grad=True), torch.randint(0, C, (N,), generator=gen)


@pytest.mark.parametrize("base", ["softmax", "angular", "normface", "sphereface", "cosface", "arcface"])
def test_total_is_the_weighted_sum_and_trains(batch, base):
    x, y = batch
    m = {"sphereface": 2, "cosface": 0.2, "arcface": 0.3}.get(base, 0.0)
    config = LossConfig(base=base, s=8.0, m=m, lambda_=2.0, lambda_warmup_epochs=4.0, beta=0.5, center_weight=0.1)
    loss = FaceLoss(D, C, config)
    terms = loss(x, y, epoch=1.0)
    assert terms.lambda_t == pytest.approx(0.5)
    torch.testing.assert_close(terms.base, F.cross_entropy(terms.logits, y))
    torch.testing.assert_close(terms.regularizer, exclusive_regularization(loss.head.weight))
    torch.testing.assert_close(terms.iam, iam_loss(loss.head(x, y).cosines, y, 8.0))
    expected = terms.base + 0.5 * terms.regularizer + 0.5 * terms.iam + 0.1 * terms.center
    torch.testing.assert_close(terms.total, expected)
    terms.total.backward()
    assert x.grad is not None and loss.head.weight.grad is not None


def test_disabled_terms_are_zero_and_free(batch):
    x, y = batch
    terms = FaceLoss(D, C, LossConfig())(x, y, epoch=0.0)
    assert terms.regularizer.item() == terms.iam.item() == terms.center.item() == terms.lambda_t == 0.0
    torch.testing.assert_close(terms.total, terms.base)


@pytest.mark.parametrize(
    ("base", "lambda_", "projects"), [("normface", 0.0, True), ("softmax", 1.0, True), ("softmax", 0.0, False)]
)
def test_after_step_projects_w_and_updates_centres(batch, base, lambda_, projects):
    x, y = batch
    loss = FaceLoss(D, C, LossConfig(base=base, lambda_=lambda_, center_weight=1.0))
    optimizer = torch.optim.SGD(loss.parameters(), lr=1.0)
    loss(x, y, epoch=1.0).total.backward()
    optimizer.step()
    loss.after_step()
    norms = loss.head.weight.norm(dim=1)
    assert torch.allclose(norms, torch.ones(C)) == projects
    assert torch.count_nonzero(loss.center.centers) > 0
    assert {"head.weight", "head.iteration", "center.centers"} <= set(loss.state_dict())  # resumable
