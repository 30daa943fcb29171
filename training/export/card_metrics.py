"""A model card's accuracy and thresholds, read from an LFW evaluation report (PairReport JSON)."""

from __future__ import annotations

from typing import Any

from service.vision.model_card import Metrics, Thresholds

FAR_KEYS = {1e-3: "far_1e-3", 1e-4: "far_1e-4"}


def report_metrics(report: dict[str, Any] | None, sep_mean: float, sep_std: float) -> tuple[Metrics, Thresholds]:
    """Sep of the trained W (given), plus accuracy/TAR and calibrated thresholds when there is a report."""
    if report is None:
        return Metrics(sep_mean=sep_mean, sep_std=sep_std), Thresholds()
    result = report["result"]
    points = {p["far"]: p for p in result["tar_at_far"]}
    metrics = Metrics(lfw_mean=result["mean_accuracy"], lfw_std=result["std_accuracy"], sep_mean=sep_mean,
                      sep_std=sep_std, tar_at_far={f"{far:g}": p["tar"] for far, p in points.items()})
    thresholds = Thresholds.model_validate({
        "best_accuracy": result["best_threshold"]["value"],
        **{key: points[far]["threshold"] for far, key in FAR_KEYS.items() if far in points},
        "calibrated_on": f"{report['dataset']}: {result['n_pairs']} pairs, all folds",
    })
    return metrics, thresholds
