"""The training loss: a margin head's base loss plus RegularFace (λ), IAM (β) and center loss terms."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.losses.center import CenterLoss
from training.losses.iam import iam_loss
from training.losses.margins import NORMALISED_W, BaseKind, HeadOutput, MarginHead, SphereFaceLambda
from training.losses.regularface import annealed_lambda, exclusive_regularization, project_rows_

__all__ = [
    "BaseKind",
    "CenterLoss",
    "FaceLoss",
    "HeadOutput",
    "LossConfig",
    "LossTerms",
    "MarginHead",
    "SphereFaceLambda",
    "annealed_lambda",
    "exclusive_regularization",
    "iam_loss",
    "project_rows_",
]


@dataclass
class LossConfig:
    base: BaseKind = "normface"
    s: float = 30.0
    m: float = 0.0  # cosface: cosine margin; arcface: radians; sphereface: integer multiplier
    lambda_: float = 0.0  # RegularFace weight λ (RF Eq. 10)
    lambda_warmup_epochs: float = 0.0  # N of RF Eq. 15
    beta: float = 0.0  # IAM weight β (IAM Eq. 8)
    center_weight: float = 0.0  # center loss (RF Eq. 1)
    center_alpha: float = 0.5
    reg_chunk_size: int = 4096
    sphereface_lambda: SphereFaceLambda = field(default_factory=SphereFaceLambda)  # used when base = sphereface


@dataclass
class LossTerms:
    total: Tensor
    base: Tensor
    regularizer: Tensor  # L_r; 0 (not computed) when λ = 0 — watch training.sep.sep_statistics instead
    iam: Tensor  # 0 when β = 0
    center: Tensor  # 0 when center_weight = 0
    lambda_t: float  # the effective λ* used this step (RF Eq. 15)
    logits: Tensor  # (L, C) of the labelled rows, for accuracy
    labels: Tensor  # (L,) their labels


class FaceLoss(nn.Module):
    """total = base + λ*·L_r + β·L_IAM (+ center_weight·L_C).

    Projection (RF Eq. 13): `after_step` renormalises W's rows whenever the base normalises W (every kind
    but softmax; the loss ignores ||W_j|| there, so this only keeps the gradient's scale steady) and also
    for softmax when λ > 0, because RegularFace's W lives on the unit sphere. Softmax without λ keeps a
    free W, as in RF Eq. 2-3. Call it after every optimizer step (the centre update needs the last batch).
    """

    head: MarginHead

    def __init__(self, feature_dim: int, num_classes: int, config: LossConfig) -> None:
        super().__init__()
        self.config = config
        self.head = MarginHead(
            feature_dim, num_classes, config.base, s=config.s, m=config.m, sphereface_lambda=config.sphereface_lambda
        )
        self.center = CenterLoss(feature_dim, num_classes, config.center_alpha) if config.center_weight > 0 else None
        self.projects = config.base in NORMALISED_W or config.lambda_ > 0
        if self.projects:
            project_rows_(self.head.weight)

    def forward(self, features: Tensor, labels: Tensor, epoch: float) -> LossTerms:
        """features (B, D), labels (B,) with -1 for unlabelled rows, which the per-sample terms skip (they
        count for distillation only); RegularFace acts on W and is added whatever the batch holds."""
        cfg = self.config
        labelled = labels >= 0
        features, labels = features[labelled], labels[labelled]
        zero = features.new_zeros((), dtype=torch.float32)
        lambda_t = annealed_lambda(cfg.lambda_, epoch, cfg.lambda_warmup_epochs)
        reg = exclusive_regularization(self.head.weight, cfg.reg_chunk_size) if cfg.lambda_ > 0 else zero
        if len(labels) == 0:
            logits = features.new_zeros((0, self.head.weight.shape[0]))
            return LossTerms(lambda_t * reg, zero, reg, zero, zero, lambda_t, logits, labels)
        out = self.head(features, labels)
        base = F.cross_entropy(out.logits.float(), labels)
        iam = iam_loss(out.cosines, labels, cfg.s) if cfg.beta > 0 else zero
        center = self.center(features.float(), labels) if self.center is not None else zero
        total = base + lambda_t * reg + cfg.beta * iam + cfg.center_weight * center
        return LossTerms(total, base, reg, iam, center, lambda_t, out.logits, labels)

    @torch.no_grad()
    def after_step(self) -> None:
        """Call after optimizer.step(): RF Eq. 13's projection of W, then the centre update."""
        if self.projects:
            project_rows_(self.head.weight)
        if self.center is not None:
            self.center.update_centers()
