"""A model card's accuracy and calibrated thresholds, taken from an LFW evaluation of that very model file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.vision.model_card import Calibration, ModelCard, Thresholds, load_model_card

FAR_KEYS = {1e-3: "far_1e-3", 1e-4: "far_1e-4"}


def calibrate_card(model_dir: Path, report: dict[str, Any]) -> ModelCard:
    """Rewrite model_dir's card from a `facever evaluate` report on this folder's model: a pair report (`lfw`,
    `pairs`) gives the accuracy, TAR and single thresholds; an `identities` report gives the FAR curves every
    decision uses (`calibration`). Sep of W, the recipe and the ONNX file stay as they are.

    Refuses a report of another model, or of another network under the same name (ONNX sha256): thresholds
    only mean something for the network that produced them."""
    card = load_model_card(model_dir)
    if report["model"] != card.name:
        raise ValueError(f"the report evaluates {report['model']!r}, not {card.name!r}")
    evaluated = report.get("onnx_sha256")
    if evaluated != card.onnx_sha256:
        raise ValueError(f"the report evaluates another {card.name} network (its ONNX sha256 {evaluated}, "
                         f"this folder's {card.onnx_sha256}): evaluate this folder's model")
    scored = (report.get("cohort") or {}).get("sha256")
    shipped = card.cohort.sha256 if card.cohort else None
    if scored != shipped:
        raise ValueError(f"the report scores {'with cohort ' + scored if scored else 'plain cosines'}, the service "
                         f"scores this model {'with cohort ' + shipped if shipped else 'by plain cosines'}: evaluate "
                         "it as served (without --plain, after any `facever cohort`)")
    if report.get("protocol") == "identities":
        calibrated = card.updated(calibration=Calibration.model_validate(report["calibration"]))
        calibrated.write(model_dir)
        return calibrated
    result = report["result"]
    points = {p["far"]: p for p in result["tar_at_far"]}
    metrics = card.metrics.model_copy(update={
        "lfw_mean": result["mean_accuracy"], "lfw_std": result["std_accuracy"],
        "tar_at_far": {f"{far:g}": p["tar"] for far, p in points.items()},
    })
    thresholds = Thresholds.model_validate({
        "best_accuracy": result["best_threshold"]["value"],
        **{key: points[far]["threshold"] for far, key in FAR_KEYS.items() if far in points},
        "calibrated_on": f"{report['dataset']}: {result['n_pairs']} pairs, all folds",
    })
    calibrated = card.updated(metrics=metrics, thresholds=thresholds)
    calibrated.write(model_dir)
    return calibrated
