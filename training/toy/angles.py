"""Angles between class centres: the min / mean pairwise angle of a set of vectors, in degrees."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class AngleStats:
    min_deg: float
    mean_deg: float


def centre_angles(vectors: Tensor) -> AngleStats:
    """Over all pairs i < j of the (C, D) rows: the smallest and the mean angle between them (degrees)."""
    if vectors.shape[0] < 2:
        raise ValueError("angles need at least two centres")
    unit = F.normalize(vectors.double(), dim=1)
    i, j = torch.triu_indices(len(unit), len(unit), offset=1)
    angles = torch.rad2deg(torch.acos((unit[i] * unit[j]).sum(dim=1).clamp(-1.0, 1.0)))
    return AngleStats(float(angles.min()), float(angles.mean()))
