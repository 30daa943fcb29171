"""A pair-list evaluation end to end: drop pairs with missing images, embed, score 10-fold, report."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from training.evaluation.features import Features
from training.evaluation.pairs import PairList
from training.evaluation.verification import FARS, VerificationResult, verify_folds


@dataclass(frozen=True)
class PairReport:
    """A verification result with what was left out or approximated on the way."""

    dataset: str
    model: str
    onnx_sha256: str  # of the evaluated network: calibrating another export of the same name is refused
    result: VerificationResult
    n_images: int
    fallback_paths: tuple[str, ...]  # test images without a detected face, scored on a centre crop
    missing_paths: tuple[str, ...]  # images the list names that do not exist; their pairs were dropped
    dropped_pairs: int

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["result"] = self.result.to_dict()
        out["n_fallback"] = len(self.fallback_paths)
        return out


def present_pairs(pairs: PairList) -> tuple[PairList, list[Path]]:
    """The pairs whose two images both exist, and the missing images."""
    missing = pairs.missing_paths()
    if not missing:
        return pairs, []
    gone = set(missing)
    keep = [i for i, (a, b) in enumerate(zip(pairs.path_a, pairs.path_b)) if a not in gone and b not in gone]
    return pairs.select(np.array(keep, dtype=np.int64)), missing


def verify_pairs(pairs: PairList, features: Features, fars: tuple[float, ...] = FARS) -> VerificationResult:
    """Score already embedded pairs (e.g. from a training loop) with the k-fold protocol."""
    return verify_folds(features.pair_similarities(pairs), pairs.same, pairs.folds, fars)


def pair_report(
    dataset: str, model: str, onnx_sha256: str, pairs: PairList, features: Features, missing: list[Path],
    dropped: int,
) -> PairReport:
    used = pairs.unique_paths()
    fell_back = features.fallback[features.rows(used)]
    return PairReport(
        dataset=dataset,
        model=model,
        onnx_sha256=onnx_sha256,
        result=verify_pairs(pairs, features),
        n_images=len(used),
        fallback_paths=tuple(str(path) for path, flag in zip(used, fell_back) if flag),
        missing_paths=tuple(str(path) for path in missing),
        dropped_pairs=dropped,
    )


def summary(report: PairReport) -> str:
    """Human-readable lines for a terminal or a log."""
    r = report.result
    lines = [
        f"{report.dataset} · {report.model}: {r.n_pairs} pairs ({r.n_same} same), {report.n_images} images",
        f"{len(report.fallback_paths)} without a face (centre crop), {len(report.missing_paths)} missing images",
        f"{report.dropped_pairs} pairs dropped for missing images",
        f"accuracy {100 * r.mean_accuracy:.2f} ± {100 * r.std_accuracy:.2f} % over {len(r.fold_accuracies)} folds",
        f"ROC AUC {r.auc:.4f}",
        f"best-accuracy threshold (all pairs) {r.best_threshold.value:.4f} ({100 * r.best_threshold.accuracy:.2f} %: "
        f"FAR {100 * r.best_threshold.far:.2f} %, FRR {100 * r.best_threshold.frr:.2f} %)",
    ]
    for p in r.tar_at_far:
        note = "" if p.reliable else f" (unreliable: only {p.negatives} negatives)"
        lines.append(f"TAR@FAR {p.far:g}: {100 * p.tar:.2f} % at threshold {p.threshold:.4f}{note}")
    return "\n".join(lines)
