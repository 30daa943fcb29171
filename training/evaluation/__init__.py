"""Evaluation protocols (LFW 10-fold, generic pair lists, TAR@FAR, rank-1) and feature extraction for them."""

from training.evaluation.crop_cache import AlignedSet, cache_file, load_crops, save_crops
from training.evaluation.features import EmbedCrops, Features, align_images, embed_aligned, embed_images
from training.evaluation.identification import GalleryProbeSplit, IdentificationResult, gallery_probe_split, rank1
from training.evaluation.pairs import PairList, lfw_pairs, read_pair_list
from training.evaluation.protocol import PairReport, pair_report, present_pairs, summary, verify_pairs
from training.evaluation.roc_plot import plot_roc
from training.evaluation.verification import (
    Roc,
    TarAtFar,
    Threshold,
    VerificationResult,
    best_threshold,
    tar_at_far,
    verify_folds,
)

__all__ = [
    "AlignedSet", "EmbedCrops", "Features", "GalleryProbeSplit", "IdentificationResult", "PairList", "PairReport",
    "Roc", "TarAtFar", "Threshold", "VerificationResult", "align_images", "best_threshold", "cache_file",
    "embed_aligned", "embed_images", "gallery_probe_split", "lfw_pairs", "load_crops", "pair_report",
    "plot_roc", "present_pairs", "rank1", "read_pair_list", "save_crops", "summary", "tar_at_far",
    "verify_folds", "verify_pairs",
]
