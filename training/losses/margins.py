"""One parameterised classification head for every base loss: softmax, angular, NormFace, SphereFace, CosFace, ArcFace."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BaseKind = Literal["softmax", "angular", "normface", "sphereface", "cosface", "arcface"]
NORMALISED_W: frozenset[str] = frozenset(get_args(BaseKind)) - {"softmax"}


@dataclass(frozen=True)
class SphereFaceLambda:
    """SphereFace's softmax annealing: λ_sm = max(min, base·(1 + gamma·iteration)^(-power)).

    The defaults are those of the SphereFace-20 Caffe recipe (λ_sm falls from 1000 to 5 after ~1.7k
    iterations); base=0, min=0 switches the annealing off (pure A-softmax, RF Eq. 5).
    """

    base: float = 1000.0
    gamma: float = 0.12
    power: float = 1.0
    min: float = 5.0

    def at(self, iteration: int) -> float:
        return max(self.min, self.base * (1.0 + self.gamma * iteration) ** (-self.power))


@dataclass
class HeadOutput:
    logits: Tensor  # (N, C) what cross-entropy sees (scale and margin at the target applied)
    cosines: Tensor  # (N, C) cos(θ_j) of l2-normalised features and W rows: no margin, no scale


def chebyshev(cos: Tensor, m: int) -> Tensor:
    """cos(mθ) as the Chebyshev polynomial T_m(cos θ): finite gradients at cos θ = ±1, unlike cos(m·acos)."""
    previous, current = torch.ones_like(cos), cos
    for _ in range(m - 1):
        previous, current = current, 2 * cos * current - previous
    return current


class MarginHead(nn.Module):
    """The classifier W (C×D, row j = class centre W_j) and the target-logit rule of the chosen base.

    - softmax:    W_j·x + b_j (RF Eq. 2-3), the only kind with a bias and unnormalised W.
    - angular:    ||x||·cos θ_j (RF Eq. 4 and 8).
    - normface:   s·cos θ_j (IAM Eq. 3).
    - sphereface: ||x||·(λ_sm·cos θ_y + ψ(θ_y))/(1 + λ_sm) at the target, ||x||·cos θ_j elsewhere, with the
                  monotone ψ(θ) = (-1)^k cos(mθ) - 2k, θ ∈ [kπ/m, (k+1)π/m] (RF Eq. 5, IAM Eq. 4), m an integer.
    - cosface:    s·(cos θ_y - m) at the target (IAM Eq. 5).
    - arcface:    s·cos(θ_y + m) at the target (IAM Eq. 6). Where θ_y + m > π, cos(θ + m) would rise
                  again, so we use the threshold fallback of the ArcFace authors' code, cos θ_y - m·sin m,
                  which keeps the target logit decreasing in θ (not the "easy margin" variant).
    s is ignored by softmax, angular and sphereface (they keep ||x||); m must be 0 for the margin-free kinds.
    """

    weight: nn.Parameter
    bias: nn.Parameter | None
    iteration: Tensor

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        kind: BaseKind = "normface",
        *,
        s: float = 30.0,
        m: float = 0.0,
        sphereface_lambda: SphereFaceLambda = SphereFaceLambda(),
    ) -> None:
        super().__init__()
        if kind not in get_args(BaseKind):
            raise ValueError(f"unknown base kind {kind!r}; expected one of {get_args(BaseKind)}")
        if kind in ("softmax", "angular", "normface") and m != 0:
            raise ValueError(f"{kind} has no margin; got m={m}")
        if kind == "sphereface" and (m < 1 or m != int(m)):
            raise ValueError(f"sphereface needs an integer margin m >= 1; got m={m}")
        if kind == "arcface" and not 0 <= m < math.pi / 2:
            raise ValueError(f"arcface margin is an angle in radians in [0, π/2); got m={m}")
        self.kind, self.s, self.m, self.sphereface_lambda = kind, s, m, sphereface_lambda
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.xavier_uniform_(self.weight)
        self.bias = nn.Parameter(torch.zeros(num_classes)) if kind == "softmax" else None
        # SphereFace's λ_sm follows training iterations; a buffer, so a checkpoint resumes it exactly.
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    def extra_repr(self) -> str:
        num_classes, in_features = self.weight.shape
        return f"in_features={in_features}, num_classes={num_classes}, kind={self.kind}, s={self.s}, m={self.m}"

    def current_lambda(self) -> float:
        """SphereFace's λ_sm at the current iteration (what the next training forward uses)."""
        return self.sphereface_lambda.at(int(self.iteration))

    def forward(self, features: Tensor, labels: Tensor) -> HeadOutput:
        # fp32 even under AMP: bf16 cosines near ±1 are too coarse for the margins and sin θ.
        with torch.autocast(features.device.type, enabled=False):
            return self._logits(features.to(torch.promote_types(self.weight.dtype, torch.float32)), labels)

    def _logits(self, features: Tensor, labels: Tensor) -> HeadOutput:
        cosines = F.linear(F.normalize(features, dim=1), F.normalize(self.weight, dim=1)).clamp(-1.0, 1.0)
        if self.kind == "softmax":
            return HeadOutput(F.linear(features, self.weight, self.bias), cosines)
        if self.kind == "angular":
            return HeadOutput(features.norm(dim=1, keepdim=True) * cosines, cosines)
        if self.kind == "normface":
            return HeadOutput(self.s * cosines, cosines)
        target = cosines.gather(1, labels[:, None])
        marked = cosines.scatter(1, labels[:, None], self._target_logit(target))
        if self.kind != "sphereface":
            return HeadOutput(self.s * marked, cosines)
        if self.training:  # one more training iteration: λ_sm anneals
            self.iteration += 1
        return HeadOutput(features.norm(dim=1, keepdim=True) * marked, cosines)

    def _target_logit(self, cos: Tensor) -> Tensor:
        """The margin-bearing function of cos θ_y (N, 1) for sphereface, cosface and arcface."""
        if self.kind == "cosface":
            return cos - self.m
        if self.kind == "arcface":
            sin = torch.sqrt((1.0 - cos * cos).clamp_min(1e-12))
            with_margin = cos * math.cos(self.m) - sin * math.sin(self.m)
            return torch.where(cos > math.cos(math.pi - self.m), with_margin, cos - self.m * math.sin(self.m))
        m = int(self.m)
        with torch.no_grad():  # k is piecewise constant: no gradient through it
            k = torch.floor(m * torch.acos(cos) / math.pi)
        psi = (1.0 - 2.0 * (k % 2)) * chebyshev(cos, m) - 2.0 * k
        lam = self.current_lambda()
        return (lam * cos + psi) / (1.0 + lam)
