"""RegularFace exclusive regularization (RF Eq. 9), its projection step (Eq. 13) and λ warm-up (Eq. 15)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def nearest_neighbours(unit_rows: Tensor, chunk_size: int = 4096) -> tuple[Tensor, Tensor]:
    """For each row i of an l2-normalised (C, D) matrix: max_{j != i} cos(W_i, W_j) and that j.

    Tiled over rows AND columns, so at most chunk_size² cosines exist at once (64 MiB at 4096 in fp32):
    memory stays bounded whatever C is, only time grows as C²·D (RF Eq. 6 and 9 both need this search).
    """
    num = unit_rows.shape[0]
    if num < 2:
        raise ValueError("the nearest other class needs at least two classes")
    best = torch.full((num,), -torch.inf, dtype=unit_rows.dtype, device=unit_rows.device)
    index = torch.zeros(num, dtype=torch.long, device=unit_rows.device)
    for r0 in range(0, num, chunk_size):
        rows = unit_rows[r0 : r0 + chunk_size]
        for c0 in range(0, num, chunk_size):
            tile = rows @ unit_rows[c0 : c0 + chunk_size].T
            if r0 == c0:  # the tile holds the diagonal: a class is not its own neighbour
                tile.fill_diagonal_(-torch.inf)
            values, cols = tile.max(dim=1)
            better = values > best[r0 : r0 + len(rows)]
            best[r0 : r0 + len(rows)] = torch.where(better, values, best[r0 : r0 + len(rows)])
            index[r0 : r0 + len(rows)] = torch.where(better, cols + c0, index[r0 : r0 + len(rows)])
    return best, index


def exclusive_regularization(weight: Tensor, chunk_size: int = 4096) -> Tensor:
    """L_r(W) = 1/C Σ_i max_{j≠i} cos(W_i, W_j) (RF Eq. 9); weight is (C, D), row i = class centre W_i.

    The denominator is ||W_i||·||W_j|| (a cosine, as RF Eq. 6 and 9 print it); the RegularFace README's
    ||W_i||²·||W_j||² is a typo. The neighbour search runs without autograd in tiles; the loss is then the
    gathered dot products, so backward costs O(C·D) and its gradient is the subgradient of the max: per
    class, its own nearest neighbour plus every class whose nearest neighbour it is (RF Eq. 14).
    Computed in fp32 even under autocast, so a bf16 rounding cannot pick the wrong neighbour.
    """
    with torch.autocast(weight.device.type, enabled=False):
        unit = F.normalize(weight.float(), dim=1)
        _, neighbour = nearest_neighbours(unit.detach(), chunk_size)
        return (unit * unit[neighbour]).sum(dim=1).mean()


@torch.no_grad()
def project_rows_(weight: Tensor) -> None:
    """RF Eq. 13's projection: put every class vector W_j back on the unit sphere, in place."""
    weight.copy_(F.normalize(weight, dim=1))


def annealed_lambda(lam: float, epoch: float, warmup_epochs: float) -> float:
    """λ*(t) = t/N · λ for t ≤ N, else λ (RF Eq. 15); t is the (fractional) epoch, N the warm-up length."""
    if warmup_epochs <= 0 or epoch >= warmup_epochs:
        return lam
    return lam * max(epoch, 0.0) / warmup_epochs
