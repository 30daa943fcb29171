"""IAM: Eq. 7 against its definition, the Eq. 12 identity, and the Eq. 9-11 gradients against autograd."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from training.losses.iam import iam_loss

N, D, C, S = 16, 8, 6, 4.0


@pytest.fixture
def unit_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x̃ (N, D), w̃ (C, D) on the unit sphere, as leaves, and labels with repeated classes."""
    gen = torch.Generator().manual_seed(0)
    x = F.normalize(torch.randn(N, D, generator=gen, dtype=torch.float64), dim=1).requires_grad_()
    w = F.normalize(torch.randn(C, D, generator=gen, dtype=torch.float64), dim=1).requires_grad_()
    return x, w, torch.randint(0, C, (N,), generator=gen)


def test_eq_7_by_its_definition(unit_batch):
    x, w, y = unit_batch
    e = torch.exp(S * x @ w.T)
    target = e.gather(1, y[:, None]).squeeze(1)
    expected = torch.log((e.sum(1) - target) / (C - 1) / e.sum(1)).mean()
    torch.testing.assert_close(iam_loss(x @ w.T, y, S), expected)


def test_eq_12_identity_with_the_scaled_softmax(unit_batch):
    """For the scaled softmax p_i = softmax(s·cos)_{y_i}: L_IAM = 1/N Σ log((1 - p_i)/(C - 1)) (IAM Eq. 12)."""
    x, w, y = unit_batch
    p = F.softmax(S * x @ w.T, dim=1).gather(1, y[:, None]).squeeze(1)
    torch.testing.assert_close(iam_loss(x @ w.T, y, S), torch.log((1 - p) / (C - 1)).mean())
    # the base term of Eq. 12 is then the scaled softmax loss -1/N Σ log p_i (IAM Eq. 3)
    torch.testing.assert_close(F.cross_entropy(S * x @ w.T, y), -torch.log(p).mean())


def test_eq_9_to_11_gradients_equal_autograd(unit_batch):
    x, w, y = unit_batch
    iam_loss(x @ w.T, y, S).backward()
    grad_x, grad_w = x.grad, w.grad
    x, w = x.detach(), w.detach()
    e = torch.exp(S * x @ w.T)  # e_ij = e^{s w̃_j·x̃_i}
    z = e.sum(1, keepdim=True)
    onehot = F.one_hot(y, C).bool()
    p = (e / z).gather(1, y[:, None])  # p_i
    p1 = e / z  # p_ij1
    p2 = e / (z - e.gather(1, y[:, None]))  # p_ij2 (used for j ≠ y_i only)
    # Eq. 9, per sample: -1/N · 1/(1-p_i) · Σ_{j≠y_i} s (w̃_yi - w̃_j) e_iyi e_ij / z_i²
    pair = (S * e.gather(1, y[:, None]) * e / z**2).masked_fill(onehot, 0.0)
    eq9 = -(pair.sum(1, keepdim=True) * w[y] - pair @ w) / (1 - p) / N
    torch.testing.assert_close(grad_x, eq9)
    # Eq. 10 (class y_i of sample i) and Eq. 11 (every other class j), summed over the batch
    coef = torch.where(onehot, -p.expand(N, C), p2 - p1)  # (N, C)
    torch.testing.assert_close(grad_w, S * coef.T @ x / N)


def test_bounds_and_two_classes():
    y = torch.tensor([0, 1])
    uniform = torch.zeros(2, 5)
    assert iam_loss(uniform, y, 30.0).item() == pytest.approx(math.log(4 / 5 / 4))  # p = 1/C
    with pytest.raises(ValueError):
        iam_loss(torch.zeros(2, 1), torch.tensor([0, 0]), 30.0)
