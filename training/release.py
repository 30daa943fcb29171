"""From a training checkpoint to a servable model folder: ONNX + a model card carrying the recipe and metrics."""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from service.vision.model_card import Metrics, ModelCard, Thresholds, TrainingRecipe, Weights
from training.checkpoint import load_checkpoint
from training.distill.teacher import TEACHER_NAME
from training.export.compact import compact_model
from training.export.embedder import export_embedder
from training.nets import ResNet20, build_embedder
from training.sep import sep_statistics


def load_backbone(checkpoint: Path) -> tuple[ResNet20, dict[str, Any]]:
    """The checkpoint's ResNet20 (eval mode, CPU) and the whole checkpoint payload."""
    ckpt = load_checkpoint(checkpoint)
    cfg = ckpt["config"]
    net = build_embedder(batch_norm=cfg["batch_norm"], width=cfg["width"])
    net.load_state_dict(ckpt["backbone"])
    return net.eval(), ckpt


def recipe_of(ckpt: dict[str, Any]) -> TrainingRecipe:
    """The card's training section from the config and progress saved with the weights."""
    cfg, progress = ckpt["config"], ckpt["progress"]
    loss, distill = cfg["loss"], cfg.get("distill")
    epochs = progress.epoch + progress.batch_in_epoch / ckpt["steps_per_epoch"]
    distillation = None if not distill else {
        "teacher": TEACHER_NAME, "teacher_sha256": ckpt["teacher_sha256"], "weight": distill["weight"],
        "relation_weight": distill["relation_weight"], "unlabelled_data": [str(p) for p in distill["unlabelled"]],
    }
    return TrainingRecipe.model_validate({
        "data": cfg["data"]["dir"], "base_loss": loss["base"], "lambda": loss["lambda_"], "beta": loss["beta"],
        "epochs": round(epochs, 3), "seed": cfg["seed"], "distillation": distillation,
        "notes": (f"recipe {cfg['name']}: ResNet20 width {cfg['width']:g}, s={loss['s']} m={loss['m']}, "
                  f"batch {cfg['batch_size']}, {progress.step} steps, lr {cfg['optim']['lr']} ({cfg['schedule']['kind']}), "
                  f"amp {cfg['amp']}" + (f". {cfg['notes']}" if cfg.get("notes") else "")),
    })


def metrics_of(ckpt: dict[str, Any]) -> Metrics:
    """Sep of the trained W; accuracy and thresholds come later, from an evaluation (facever calibrate)."""
    sep = sep_statistics(ckpt["loss"]["head.weight"])
    return Metrics(sep_mean=sep.mean, sep_std=sep.std)


def export_checkpoint(checkpoint: Path, out_dir: Path, *, name: str, version: str = "0.1.0",
                      weights: Weights = "fp32",
                      calibration: Path | None = None) -> ModelCard:
    """Export the checkpoint's backbone with export_embedder (parity-checked) and a card with its recipe.

    weights fp16/int8: the fp32 export goes to a temporary folder and training.export.compact converts it
    into out_dir (int8 calibrated on crops from the packed folder `calibration`, which int8 requires)."""
    if weights == "int8" and calibration is None:
        raise ValueError("int8 needs calibration crops: pass the packed training folder")
    net, ckpt = load_backbone(checkpoint)
    export = partial(export_embedder, net, name=name, version=version, training=recipe_of(ckpt),
                     metrics=metrics_of(ckpt), thresholds=Thresholds())
    if weights == "fp32":
        return export(out_dir)
    with tempfile.TemporaryDirectory(prefix="facever-fp32-") as tmp:
        export(Path(tmp))
        return compact_model(Path(tmp), out_dir, weights, calibration=calibration)
