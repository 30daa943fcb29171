"""Inter-class separability (RF Eq. 6): per class, the largest cosine between its centre and another's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from training.losses.regularface import nearest_neighbours


@dataclass(frozen=True)
class SepStats:
    mean: float  # mean over classes of Sep_i; smaller = better separated
    std: float  # population std (ddof 0) over classes


def sep_statistics(weight: Tensor | np.ndarray, chunk_size: int = 4096) -> SepStats:
    """Sep_i = max_{j≠i} cos(W_i, W_j) for the (C, D) classifier (row = class), summarised as RF Table 1."""
    rows = torch.as_tensor(weight).detach().float()
    sep, _ = nearest_neighbours(F.normalize(rows, dim=1), chunk_size)
    return SepStats(mean=float(sep.mean()), std=float(sep.std(correction=0)))
