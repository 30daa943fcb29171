"""Pair verification metrics: 10-fold accuracy (threshold from the other folds), ROC AUC, TAR at FAR."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn.metrics import auc, roc_curve

FARS: tuple[float, ...] = (1e-3, 1e-4)


@dataclass(frozen=True)
class Threshold:
    """A decision threshold (match when similarity >= value) and, on the pairs it was fitted to, its accuracy,
    false accept rate (different-person pairs accepted) and false reject rate (same-person pairs refused)."""

    value: float
    accuracy: float
    far: float
    frr: float


@dataclass(frozen=True)
class TarAtFar:
    """True accept rate at a target false accept rate over all pairs, with the threshold that gives it.

    `reliable` is False when fewer than 1/far negatives exist: then not even one false accept can be
    allowed, the threshold sits above every negative and the point is really FAR = 0.
    """

    far: float
    tar: float
    threshold: float
    negatives: int
    reliable: bool


@dataclass(frozen=True)
class Roc:
    fpr: np.ndarray
    tpr: np.ndarray
    auc: float


@dataclass(frozen=True)
class VerificationResult:
    """K-fold accuracies plus whole-set ROC numbers and calibration thresholds."""

    fold_accuracies: tuple[float, ...]
    fold_thresholds: tuple[float, ...]  # the threshold fitted on the other folds, per held-out fold
    mean_accuracy: float
    std_accuracy: float  # population std over folds (ddof=0), as LFW results are usually reported
    auc: float
    tar_at_far: tuple[TarAtFar, ...]
    best_threshold: Threshold  # fitted on all pairs: for a model card, not for the fold accuracies
    n_pairs: int
    n_same: int
    roc: Roc = field(repr=False)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: everything but the ROC arrays."""
        out = asdict(self)
        del out["roc"]
        return out


def best_threshold(similarities: np.ndarray, same: np.ndarray) -> Threshold:
    """The best-accuracy threshold, sweeping every cut between consecutive unique similarities.

    Accuracies for all cuts come from cumulative counts (O(N log N)); the threshold returned is the
    midpoint of its gap, so a held-out pair exactly at a training value is not decided by float ties.
    """
    sims = np.asarray(similarities, dtype=np.float64)
    labels = np.asarray(same, dtype=bool)
    values, inverse = np.unique(sims, return_inverse=True)
    pos = np.bincount(inverse, weights=labels, minlength=len(values))
    neg = np.bincount(inverse, weights=~labels, minlength=len(values))
    # cut k accepts values[k:]; cut len(values) accepts nothing
    pos_accepted = np.concatenate([np.cumsum(pos[::-1])[::-1], [0.0]])
    neg_accepted = np.concatenate([np.cumsum(neg[::-1])[::-1], [0.0]])
    correct = pos_accepted + (neg.sum() - neg_accepted)
    k = int(np.argmax(correct))
    if k == 0:
        cut = values[0]
    elif k == len(values):
        cut = np.nextafter(values[-1], np.inf)
    else:  # between the last rejected and the first accepted value (adjacent floats: the accepted one)
        cut = max((values[k - 1] + values[k]) / 2, np.nextafter(values[k - 1], np.inf))
    return Threshold(float(cut), float(correct[k] / len(sims)), float(neg_accepted[k] / max(neg.sum(), 1)),
                     float(1 - pos_accepted[k] / max(pos.sum(), 1)))


def accuracy_at(similarities: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((np.asarray(similarities) >= threshold) == np.asarray(same, dtype=bool)))


def tar_at_far(similarities: np.ndarray, same: np.ndarray, fars: tuple[float, ...] = FARS) -> tuple[TarAtFar, ...]:
    """For each FAR, the highest TAR whose false accept rate does not exceed it (scikit-learn's ROC)."""
    labels = np.asarray(same, dtype=bool)
    fpr, tpr, thresholds = roc_curve(labels, similarities, drop_intermediate=False)
    # roc_curve's first threshold is +inf (accept nothing): keep thresholds finite for JSON and model cards
    thresholds[0] = np.nextafter(float(np.max(similarities)), np.inf)
    negatives = int((~labels).sum())
    out = []
    for far in fars:
        i = int(np.searchsorted(fpr, far, side="right")) - 1  # fpr is non-decreasing
        out.append(TarAtFar(far, float(tpr[i]), float(thresholds[i]), negatives, negatives * far >= 1))
    return tuple(out)


def roc(similarities: np.ndarray, same: np.ndarray) -> Roc:
    fpr, tpr, _ = roc_curve(np.asarray(same, dtype=bool), similarities)
    return Roc(fpr, tpr, float(auc(fpr, tpr)))


def verify_folds(
    similarities: np.ndarray, same: np.ndarray, folds: np.ndarray, fars: tuple[float, ...] = FARS
) -> VerificationResult:
    """K-fold verification: each fold is scored with the best-accuracy threshold of the other K-1 folds."""
    sims = np.asarray(similarities, dtype=np.float64)
    labels = np.asarray(same, dtype=bool)
    folds = np.asarray(folds)
    if not (len(sims) == len(labels) == len(folds)):
        raise ValueError("similarities, same and folds must have one entry per pair")
    if labels.all() or not labels.any():
        raise ValueError("verification needs both same and different pairs")
    fold_ids = np.unique(folds)
    if len(fold_ids) < 2:
        raise ValueError("k-fold verification needs at least 2 folds")
    accuracies, thresholds = [], []
    for fold in fold_ids:
        test = folds == fold
        threshold = best_threshold(sims[~test], labels[~test]).value
        thresholds.append(threshold)
        accuracies.append(accuracy_at(sims[test], labels[test], threshold))
    curve = roc(sims, labels)
    return VerificationResult(
        fold_accuracies=tuple(accuracies),
        fold_thresholds=tuple(thresholds),
        mean_accuracy=float(np.mean(accuracies)),
        std_accuracy=float(np.std(accuracies)),
        auc=curve.auc,
        tar_at_far=tar_at_far(sims, labels, fars),
        best_threshold=best_threshold(sims, labels),
        n_pairs=len(sims),
        n_same=int(labels.sum()),
        roc=curve,
    )
