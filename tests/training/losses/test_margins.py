"""MarginHead: every base's logits against its paper formula, and pytorch-metric-learning as an oracle.

pml (test-only) implements ArcFace, CosFace and SphereFace (without the softmax annealing). We keep our own
head because we want one parameterised module for all six bases, the papers' exact formulas (integer-m
SphereFace with λ_sm annealing, ArcFace's threshold fallback) and W shaped (C, D); pml's W is (D, C) and its
ArcFace margin is in degrees, so the tests copy our W.T into theirs and convert the margin.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml

from training.losses.margins import MarginHead, SphereFaceLambda, chebyshev

N, D, C = 12, 8, 7
NO_ANNEALING = SphereFaceLambda(base=0.0, min=0.0)


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return 3 * torch.randn(N, D, generator=gen, dtype=torch.float64), torch.randint(0, C, (N,), generator=gen)


def head(kind: str, **kwargs: object) -> MarginHead:
    torch.manual_seed(1)
    return MarginHead(D, C, kind, **kwargs).double()  # type: ignore[arg-type]


def reference_cosines(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (x / x.norm(dim=1, keepdim=True)) @ (w / w.norm(dim=1, keepdim=True)).T


def test_softmax_is_affine_with_bias(batch):
    x, y = batch
    h = head("softmax")
    h.bias.data.uniform_(-1, 1)
    out = h(x, y)
    torch.testing.assert_close(out.logits, x @ h.weight.T + h.bias)
    torch.testing.assert_close(out.cosines, reference_cosines(x, h.weight))


@pytest.mark.parametrize(("kind", "scale"), [("angular", None), ("normface", 30.0)])
def test_margin_free_kinds(batch, kind, scale):
    x, y = batch
    h = head(kind, s=30.0)
    cos = reference_cosines(x, h.weight)
    expected = cos * (x.norm(dim=1, keepdim=True) if scale is None else scale)  # RF Eq. 4 / IAM Eq. 3
    torch.testing.assert_close(h(x, y).logits, expected)
    assert h.bias is None


def test_cosface_and_arcface_change_only_the_target(batch):
    x, y = batch
    cos = reference_cosines(x, head("cosface").weight)
    target = F.one_hot(y, C).bool()
    cosface = head("cosface", s=10.0, m=0.35)(x, y).logits
    torch.testing.assert_close(cosface, 10.0 * torch.where(target, cos - 0.35, cos))  # IAM Eq. 5
    arcface = head("arcface", s=10.0, m=0.5)(x, y).logits
    arc = torch.cos(torch.acos(cos) + 0.5)  # all test angles are below π - m
    assert bool((torch.acos(cos)[target] < math.pi - 0.5).all())
    torch.testing.assert_close(arcface, 10.0 * torch.where(target, arc, cos))  # IAM Eq. 6


def test_arcface_fallback_beyond_pi_keeps_the_target_logit_decreasing():
    h = head("arcface", s=1.0, m=0.5)
    theta = torch.linspace(0.0, math.pi, 2001, dtype=torch.float64)
    target = h._target_logit(torch.cos(theta)[:, None]).squeeze(1)
    assert bool((target.diff() <= 1e-12).all())
    beyond = theta > math.pi - 0.5
    torch.testing.assert_close(target[beyond], torch.cos(theta[beyond]) - 0.5 * math.sin(0.5))


def test_sphereface_psi_is_monotone_and_matches_cos_m_theta():
    theta = torch.linspace(0.0, math.pi, 4001, dtype=torch.float64)
    for m in (1, 2, 3, 4):
        torch.testing.assert_close(chebyshev(torch.cos(theta), m), torch.cos(m * theta))
        h = head("sphereface", m=m, sphereface_lambda=NO_ANNEALING)
        psi = h._target_logit(torch.cos(theta)[:, None]).squeeze(1)
        assert bool((psi.diff() < 0).all())  # ψ decreases from 1 to 1 - 2m
        assert psi[0].item() == pytest.approx(1.0) and psi[-1].item() == pytest.approx(1 - 2 * m)


def test_sphereface_annealing_schedule_and_its_counter(batch):
    x, y = batch
    schedule = SphereFaceLambda()
    assert schedule.at(0) == 1000.0 and schedule.at(10) == pytest.approx(1000 / 2.2) and schedule.at(10**6) == 5.0
    h = head("sphereface", m=4)
    cos = reference_cosines(x, h.weight)
    target = F.one_hot(y, C).bool()
    psi = head("sphereface", m=4, sphereface_lambda=NO_ANNEALING).eval()._target_logit(cos)
    for iteration in range(3):
        lam = schedule.at(iteration)
        expected = x.norm(dim=1, keepdim=True) * torch.where(target, (lam * cos + psi) / (1 + lam), cos)
        torch.testing.assert_close(h(x, y).logits, expected)
    assert int(h.iteration) == 3
    h.eval()(x, y)
    assert int(h.iteration) == 3  # evaluation does not advance the schedule


@pytest.mark.parametrize(
    ("kind", "m", "oracle"),
    [
        ("arcface", 0.5, lambda: pml.ArcFaceLoss(C, D, margin=math.degrees(0.5), scale=30.0)),
        ("cosface", 0.35, lambda: pml.CosFaceLoss(C, D, margin=0.35, scale=30.0)),
        ("sphereface", 4, lambda: pml.SphereFaceLoss(C, D, margin=4, scale=1.0)),
    ],
)
def test_equals_pytorch_metric_learning(batch, kind, m, oracle):
    x, y = batch
    ours = head(kind, s=30.0, m=m, sphereface_lambda=NO_ANNEALING)
    theirs = oracle().double()
    theirs.W.data.copy_(ours.weight.detach().T)  # pml keeps W as (D, C)
    x = x.clone()
    x[0] = -2.0 * ours.weight.detach()[y[0]]  # θ_y = π: ArcFace's fallback and SphereFace's last k
    expected = theirs(x, y)
    torch.testing.assert_close(F.cross_entropy(ours(x, y).logits, y), expected)


@pytest.mark.parametrize(
    ("kind", "m"), [("normface", 0.1), ("sphereface", 1.5), ("sphereface", 0.0), ("arcface", 2.0), ("margin", 0.0)]
)
def test_rejects_bad_settings(kind, m):
    with pytest.raises(ValueError):
        MarginHead(D, C, kind, m=m)  # type: ignore[arg-type]


def test_gradients_are_finite_at_the_poles():
    for kind, m in (("sphereface", 4), ("arcface", 0.5), ("cosface", 0.35)):
        h = head(kind, m=m)
        x = torch.cat([h.weight[:1], -h.weight[1:2]]).detach().clone().requires_grad_()  # cos = ±1 exactly
        F.cross_entropy(h(x, torch.tensor([0, 1])).logits, torch.tensor([0, 1])).backward()
        assert bool(torch.isfinite(x.grad).all()) and bool(torch.isfinite(h.weight.grad).all())
