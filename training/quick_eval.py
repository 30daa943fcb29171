"""LFW accuracy of the network being trained, between epochs: crops aligned once, then embedded each time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from service.config import Settings
from service.vision.pipeline import FacePipeline
from training.config import EvalConfig
from training.evaluation import (
    AlignedSet,
    PairList,
    align_images,
    embed_aligned,
    lfw_pairs,
    present_pairs,
    verify_pairs,
)
from training.evaluation.torch_embed import network_embedder

LfwCheck = Callable[[nn.Module, torch.device], dict[str, float]]


def aligned_lfw(
    lfw_dir: Path, pairs_per_fold: int | None, workers: int, cache_dir: Path
) -> tuple[PairList, AlignedSet]:
    """LFW's pairs (all, or the first N same + N different per fold) and their crops, aligned by the service's
    own detector and aligner (or read from the crop cache)."""
    listed = lfw_pairs(lfw_dir / "pairs.txt", lfw_dir / "lfw-deepfunneled")
    pairs, _ = present_pairs(listed.first_per_fold(pairs_per_fold) if pairs_per_fold else listed)
    pipeline = FacePipeline.from_settings(Settings(), with_embedder=False)
    return pairs, align_images(pairs.unique_paths(), pipeline, workers, cache_dir)


def lfw_check(cfg: EvalConfig) -> LfwCheck:
    """Align LFW's images (or read them from the crop cache) now; the returned check only embeds and scores."""
    pairs, aligned = aligned_lfw(cfg.lfw_dir, cfg.pairs_per_fold, cfg.workers, cfg.cache_dir)

    def check(net: nn.Module, device: torch.device) -> dict[str, float]:
        result = verify_pairs(pairs, embed_aligned(aligned, network_embedder(net, device)))
        return {"lfw/accuracy": result.mean_accuracy, "lfw/accuracy_std": result.std_accuracy, "lfw/auc": result.auc}

    return check
