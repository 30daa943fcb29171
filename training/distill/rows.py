"""The distillation comparison: rows (a)-(f) of one recipe (configs/cpu_distill.yaml), each changing its losses or data.

Every row takes the same number of optimizer steps (same batch, schedule and seed): the rows trained on the
labelled faces alone run proportionally more epochs over their smaller set.
"""

from __future__ import annotations

from training.config import load_config
from training.face_repro.rows import Row
from training.train import training_set

RECIPE = "training/configs/cpu_distill.yaml"
PREFIX = "distill"
LAMBDA, WARMUP = 6.0, 2.0  # the recipe's RegularFace λ and its warm-up epochs
NO_UNLABELLED = "distill.unlabelled=[]"
NO_TEACHER = "distill.weight=0"
NO_RF, NO_IAM = "loss.lambda_=0", "loss.beta=0"


def rows() -> list[Row]:
    """The rows, the default candidate first: a run cut short still answers the main question."""
    return [
        Row("e", "(e) KD + CosFace + RF + IAM", (), LAMBDA, WARMUP),
        Row("a", "(a) CosFace + RF + IAM, no teacher (the earlier recipe)", (NO_TEACHER, NO_UNLABELLED), LAMBDA, WARMUP),
        Row("f", "(f) = (e) without the unlabelled faces", (NO_UNLABELLED,), LAMBDA, WARMUP),
        Row("c", "(c) KD + CosFace", (NO_RF, NO_IAM)),
        Row("d", "(d) KD + CosFace + RF", (NO_IAM,), LAMBDA, WARMUP),
        Row("b", "(b) KD only, no labels", ("distill.use_labels=false", NO_RF, NO_IAM)),
    ]


def row_epochs(row: Row, epochs: float, extra: tuple[str, ...] = ()) -> float:
    """Epochs that give `row` the step count of `epochs` over the recipe's whole set (labelled + unlabelled)."""
    if NO_UNLABELLED not in row.overrides:
        return epochs
    full = training_set(load_config(RECIPE, list(extra)))
    return round(epochs * len(full) / full.labelled_count, 3)
