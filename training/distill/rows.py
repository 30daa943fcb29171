"""The distillation comparison: rows (a)-(k) of one recipe (configs/cpu_distill.yaml), each changing its losses,
data, steps or width.

Every row but those of STEP_FACTORS takes the same number of optimizer steps (same batch, schedule and seed): a row
with fewer faces than the recipe (the labelled ones alone) runs proportionally more epochs, one with more (UTKFace
added) fewer. (i) takes twice the steps and (j) a network of twice the channels, so the two tell time and width apart
as limits; (k) takes twice the steps of (g), to show whether more steps and more varied faces add.
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
CELEBA_EXTRA, UTK_ADULT, UTK_CHILD = "data/celeba-extra-loose", "data/utkface-adult-loose", "data/utkface-child-loose"
WITH_ADULTS = f"distill.unlabelled=[{CELEBA_EXTRA},{UTK_ADULT}]"
WITH_ADULTS_AND_CHILDREN = f"distill.unlabelled=[{CELEBA_EXTRA},{UTK_ADULT},{UTK_CHILD}]"


def rows() -> list[Row]:
    """The rows, the default candidate first: a run cut short still answers the main question."""
    return [
        Row("e", "(e) KD + CosFace + RF + IAM", (), LAMBDA, WARMUP),
        Row("a", "(a) CosFace + RF + IAM, no teacher (the earlier recipe)", (NO_TEACHER, NO_UNLABELLED), LAMBDA, WARMUP),
        Row("f", "(f) = (e) without the unlabelled faces", (NO_UNLABELLED,), LAMBDA, WARMUP),
        Row("c", "(c) KD + CosFace", (NO_RF, NO_IAM)),
        Row("d", "(d) KD + CosFace + RF", (NO_IAM,), LAMBDA, WARMUP),
        Row("b", "(b) KD only, no labels", ("distill.use_labels=false", NO_RF, NO_IAM)),
        Row("g", "(g) = (e) with UTKFace's adults added", (WITH_ADULTS,), LAMBDA, WARMUP),
        Row("h", "(h) = (e) with UTKFace's adults and children added", (WITH_ADULTS_AND_CHILDREN,), LAMBDA, WARMUP),
        Row("i", "(i) = (e) with twice the steps", (), LAMBDA, WARMUP),
        Row("j", "(j) = (e) at twice the width (ResNet20 × 0.5)", ("width=0.5",), LAMBDA, WARMUP),
        Row("k", "(k) = (g) with twice the steps", (WITH_ADULTS,), LAMBDA, WARMUP),
    ]


STEP_FACTORS = {"i": 2.0, "k": 2.0}  # rows that train longer than the common step count, by this factor


def row_epochs(row: Row, epochs: float, extra: tuple[str, ...] = ()) -> float:
    """Epochs that give `row` the step count of `epochs` over the recipe's whole set (labelled + unlabelled),
    times its STEP_FACTORS entry."""
    full = len(training_set(load_config(RECIPE, list(extra))))
    own = len(training_set(load_config(RECIPE, [*extra, *row.overrides])))
    epochs *= STEP_FACTORS.get(row.key, 1.0)
    return epochs if own == full else round(epochs * full / own, 3)
