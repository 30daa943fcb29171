"""Inter-class angular margin loss (IAM Eq. 7), a regulariser added to any base as L = L_base + β·L_IAM (Eq. 8)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def iam_loss(cosines: Tensor, labels: Tensor, s: float) -> Tensor:
    """L_IAM = 1/N Σ_i log[ (1/(C-1)) Σ_{j≠y_i} e^{s·cos θ_ij} / Σ_j e^{s·cos θ_ij} ] (IAM Eq. 7).

    `cosines` are the base's margin-free cosines (HeadOutput.cosines), so the term is the same whatever
    the base. Written as two log-sum-exps for stability; for the scaled softmax it equals
    1/N Σ log((1 - p_i)/(C - 1)) (IAM Eq. 12): at most -log(C - 1), unbounded below as p_i → 1.
    """
    num_classes = cosines.shape[1]
    if num_classes < 2:
        raise ValueError("IAM needs at least two classes")
    logits = s * cosines.to(torch.promote_types(cosines.dtype, torch.float32))  # fp32 at least, even under AMP
    others = logits.scatter(1, labels[:, None], -torch.inf)
    per_sample = torch.logsumexp(others, dim=1) - torch.logsumexp(logits, dim=1) - math.log(num_classes - 1)
    return per_sample.mean()
