"""The two toy experiments as rows × seeds: IAM Table 2 (3-D features, 10 digits) and RegularFace Fig. 4 (2-D, 3 digits)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from torch import nn

from training.losses import LossConfig, SphereFaceLambda
from training.toy.angles import AngleStats, centre_angles
from training.toy.data import Mnist, load_mnist
from training.toy.fit import FitConfig, RunResult
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
    tag: ClassVar[str] = "iam"

    def load(self) -> Mnist:
        return load_mnist(train_size=self.train_size, subset_seed=SUBSET_SEED)

    def net(self) -> nn.Module:
        return IamCNN(self.feature_dim, self.width)

    def rows(self, data: Mnist) -> list[Row]:
        return iam_rows(self.s)


@dataclass(frozen=True)
class RfSettings:
    fit: FitConfig
    digits: tuple[int, ...] = (0, 1, 2)
    center_weight: float = 0.1
    lambda_: float = 1.0
    sphereface_m: int = 4  # SphereFace's own m; its λ_sm annealing (below) is what lets m = 4 train in 2-D
    feature_dim: int = 2
    tag: ClassVar[str] = "rf"

    def load(self) -> Mnist:
        return load_mnist(digits=self.digits)

    def net(self) -> nn.Module:
        return LeNet(self.feature_dim)

    def rows(self, data: Mnist) -> list[Row]:
        total = self.fit.max_steps or math.ceil(self.fit.epochs * math.ceil(len(data.train) / self.fit.batch_size))
        return rf_rows(self, total)


Settings = IamSettings | RfSettings

IAM = IamSettings(
    FitConfig(epochs=20, batch_size=32, lr=0.05, weight_decay=5e-3, optimizer="sgd"), width=0.25
)  # chosen by the recipe search (training.toy.search); the head decays here too
RF = RfSettings(FitConfig(epochs=3, batch_size=64, lr=1e-3))


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
