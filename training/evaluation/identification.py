"""Closed-set identification: rank-1 with a first-image gallery, the other images as probes, and distractors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GalleryProbeSplit:
    """Row indices into a feature set: one gallery image per identity, that identity's other images as probes."""

    gallery: np.ndarray
    probes: np.ndarray


@dataclass(frozen=True)
class IdentificationResult:
    rank1: float
    n_probes: int
    n_gallery: int  # identities with probes, each enrolled with one image
    n_distractors: int  # extra gallery entries that no probe belongs to


def gallery_probe_split(labels: np.ndarray) -> GalleryProbeSplit:
    """First image (in the given order) of each identity with >= 2 images goes to the gallery, the rest are probes.

    Identities with a single image have no probe and are left out; pass them as distractors if wanted.
    """
    labels = np.asarray(labels)
    _, first, counts = np.unique(labels, return_index=True, return_counts=True)
    gallery = np.sort(first[counts >= 2])
    eligible = np.isin(labels, labels[gallery])
    eligible[gallery] = False
    return GalleryProbeSplit(gallery, np.flatnonzero(eligible))


def rank1(
    features: np.ndarray, labels: np.ndarray, distractors: np.ndarray | None = None
) -> IdentificationResult:
    """Fraction of probes whose most similar gallery entry (dot product) is their own identity.

    `features` are unit vectors with one identity label per row; `distractors` are extra unit vectors
    added to the gallery with no identity of their own, so any probe matching one of them is a miss.
    """
    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels)
    split = gallery_probe_split(labels)
    if len(split.probes) == 0:
        raise ValueError("identification needs at least one identity with two or more images")
    extra = np.zeros((0, features.shape[1]), np.float32) if distractors is None else np.asarray(distractors, np.float32)
    gallery = np.concatenate([features[split.gallery], extra])
    # the feature row behind each gallery entry; -1 marks a distractor (never the right identity)
    rows = np.concatenate([split.gallery, np.full(len(extra), -1)])[np.argmax(features[split.probes] @ gallery.T, 1)]
    hit = (rows >= 0) & (labels[rows] == labels[split.probes])
    return IdentificationResult(float(hit.mean()), len(split.probes), len(split.gallery), len(extra))
