"""Evaluation protocols (LFW 10-fold, generic pair lists, TAR@FAR, rank-1) and feature extraction for them.

Names load from their modules on first use (PEP 562): importing a light part, such as the pair lists or the
`facever evaluate` parser, does not pull in scikit-learn or matplotlib, and no part of evaluation needs torch
(`torch_embed`, for torch networks, is imported by name only by the training code that uses it).
"""

from __future__ import annotations

import importlib

_MODULE_OF = {
    **dict.fromkeys(("AlignedSet", "cache_file", "load_crops", "save_crops"), "crop_cache"),
    **dict.fromkeys(("EmbedCrops", "Features", "align_images", "embed_aligned", "embed_images"), "features"),
    **dict.fromkeys(("GalleryProbeSplit", "IdentificationResult", "gallery_probe_split", "rank1"), "identification"),
    **dict.fromkeys(("PairList", "lfw_pairs", "read_pair_list"), "pairs"),
    **dict.fromkeys(("PairReport", "pair_report", "present_pairs", "summary", "verify_pairs"), "protocol"),
    "plot_roc": "roc_plot",
    **dict.fromkeys(
        ("Roc", "TarAtFar", "Threshold", "VerificationResult", "best_threshold", "tar_at_far", "verify_folds"),
        "verification",
    ),
}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> object:
    """Import the module that defines `name` the first time it is asked for."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value
