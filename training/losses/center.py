"""Center loss (RF Eq. 1, Wen et al. 2016) with its own running update of the class centres."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class CenterLoss(nn.Module):
    """L_C = 1/(2N) Σ_i ||x_i - c_{y_i}||² (RF Eq. 1, averaged over the batch like the other terms).

    The centres are a buffer, not a parameter: they get no gradient. `update_centers` moves them with
    Wen et al.'s rule c_j ← c_j - α·Σ_{y_i=j}(c_j - x_i) / (1 + n_j) on the last training batch seen.
    """

    centers: Tensor

    def __init__(self, feature_dim: int, num_classes: int, alpha: float = 0.5) -> None:
        super().__init__()
        if not 0 < alpha <= 1:
            raise ValueError(f"center alpha must be in (0, 1]; got {alpha}")
        self.alpha = alpha
        self.register_buffer("centers", torch.zeros(num_classes, feature_dim))
        self._batch: tuple[Tensor, Tensor] | None = None

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        if self.training:  # remembered for the update that follows the optimiser step
            self._batch = (features.detach(), labels.detach())
        centers = self.centers[labels].to(features.dtype)
        return 0.5 * (features - centers).pow(2).sum(dim=1).mean()

    @torch.no_grad()
    def update_centers(self) -> None:
        """Apply the centre update for the last training batch (a no-op when there is none)."""
        if self._batch is None:
            return
        features, labels = self._batch
        self._batch = None
        drift = torch.zeros_like(self.centers).index_add_(0, labels, self.centers[labels] - features.float())
        counts = torch.bincount(labels, minlength=self.centers.shape[0]).to(self.centers.dtype)
        self.centers -= self.alpha * drift / (1.0 + counts[:, None])
