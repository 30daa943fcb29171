"""The two toy experiments as rows × seeds: IAM Table 2 (3-D features, 10 digits) and RegularFace Fig. 4 (2-D, 3 digits)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from torch import nn

from training.losses import LossConfig, SphereFaceLambda
from training.toy.angles import AngleStats, centre_angles
from training.toy.data import Mnist, load_mnist
from training.toy.fit import FitConfig, RunResult, train_run
from training.toy.nets import IamCNN, LeNet

SUBSET_SEED = 0  # the fixed 10k training subset of IAM §5.1, the same for every training seed


@dataclass(frozen=True)
class Row:
    name: str
    loss: LossConfig
    paper: float | None = None  # the paper's accuracy, where it prints one
    centres: Literal["weight", "centers"] = "weight"  # which vectors are the class centres for the angle table


@dataclass
class RowResult:
    row: Row
    runs: list[RunResult] = field(default_factory=list)

    @property
    def accuracies(self) -> list[float]:
        return [r.accuracy for r in self.runs]

    @property
    def angles(self) -> list[AngleStats]:
        return [centre_angles(r.centers if self.row.centres == "centers" and r.centers is not None else r.class_weight)
                for r in self.runs]  # fmt: skip


@dataclass(frozen=True)
class IamSettings:
    fit: FitConfig
    width: float  # IamCNN channel multiplier (1.0 = IAM Table 1)
    s: float = 10.0  # IAM §5.1 gives no s for MNIST; 10 lets a 3-D cosine softmax reach p ≈ 1
    train_size: int = 10_000
    feature_dim: int = 3


@dataclass(frozen=True)
class RfSettings:
    fit: FitConfig
    digits: tuple[int, ...] = (0, 1, 2)
    center_weight: float = 0.1
    lambda_: float = 1.0
    sphereface_m: int = 4  # SphereFace's own m; its λ_sm annealing (below) is what lets m = 4 train in 2-D
    feature_dim: int = 2


def iam_settings(quick: bool) -> IamSettings:
    if quick:  # 8 epochs reach ~97 % for Eq. 3 at half width (1 epoch: 55 %)
        return IamSettings(FitConfig(epochs=8, batch_size=128, lr=2e-3), width=0.5)
    return IamSettings(FitConfig(epochs=20, batch_size=128, lr=2e-3), width=1.0)


def rf_settings(quick: bool) -> RfSettings:
    return RfSettings(FitConfig(epochs=3 if quick else 10, batch_size=64, lr=1e-3))


def iam_rows(s: float) -> list[Row]:
    """IAM Table 2's columns, with the paper's accuracies."""
    return [
        Row("Eq. 3 (NormFace)", LossConfig(base="normface", s=s), 99.08),
        Row("Eq. 3 + 0.2·IAM", LossConfig(base="normface", s=s, beta=0.2), 99.42),
        Row("AM (CosFace) m = 0.1", LossConfig(base="cosface", s=s, m=0.1), 99.24),
        Row("AM m = 0.1 + 0.2·IAM", LossConfig(base="cosface", s=s, m=0.1, beta=0.2), 99.42),
    ]


def sphereface_schedule(total_steps: int) -> SphereFaceLambda:
    """SphereFace's λ_sm = 1000/(1 + γ·t) falling to its floor 5 half-way through a short run (γ scaled to it)."""
    return SphereFaceLambda(base=1000.0, gamma=(1000.0 / 5.0 - 1.0) / (total_steps / 2), power=1.0, min=5.0)


def rf_rows(settings: RfSettings, total_steps: int) -> list[Row]:
    """RegularFace Fig. 4's panels: softmax, center loss, SphereFace, softmax + exclusive regularization."""
    sphere = LossConfig(base="sphereface", m=settings.sphereface_m, sphereface_lambda=sphereface_schedule(total_steps))
    return [
        Row("Softmax", LossConfig(base="softmax")),
        Row("Center loss", LossConfig(base="softmax", center_weight=settings.center_weight), centres="centers"),
        Row(f"SphereFace (m = {settings.sphereface_m})", sphere),
        Row(
            f"Softmax + exclusive reg. (λ = {settings.lambda_:g})", LossConfig(base="softmax", lambda_=settings.lambda_)
        ),
    ]


def run_rows(
    rows: list[Row], make_net: Callable[[], nn.Module], data: Mnist, fit: FitConfig, seeds: int, tag: str
) -> list[RowResult]:
    results = []
    for row in rows:
        result = RowResult(row)
        for seed in range(seeds):
            desc = f"{tag} · {row.name} · seed {seed}"
            result.runs.append(train_run(make_net, row.loss, data.train, data.test, fit, seed, desc))
        results.append(result)
    return results


def run_iam(settings: IamSettings, seeds: int) -> list[RowResult]:
    data = load_mnist(train_size=settings.train_size, subset_seed=SUBSET_SEED)
    make_net = partial(IamCNN, settings.feature_dim, settings.width)
    return run_rows(iam_rows(settings.s), make_net, data, settings.fit, seeds, "IAM")


def run_regularface(settings: RfSettings, seeds: int) -> list[RowResult]:
    data = load_mnist(digits=settings.digits)
    total = math.ceil(settings.fit.epochs * math.ceil(len(data.train) / settings.fit.batch_size))
    make_net = partial(LeNet, settings.feature_dim)
    return run_rows(rf_rows(settings, total), make_net, data, settings.fit, seeds, "RF")
