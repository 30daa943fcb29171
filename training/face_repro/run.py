"""Train one row (resuming whatever is already there), score it on all LFW pairs, and keep the result as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from training.config import load_config
from training.evaluation import AlignedSet, embed_aligned, verify_pairs
from training.evaluation.pairs import PairList
from training.evaluation.torch_embed import network_embedder
from training.face_repro.rows import RECIPE, Row
from training.release import load_backbone
from training.sep import sep_statistics
from training.train import train


@dataclass(frozen=True)
class RowResult:
    key: str
    label: str
    overrides: list[str]
    lambda_: float  # RegularFace's weight, the x axis of RF Fig. 6
    epochs: float
    steps: int
    lfw_mean: float  # fractions, as training.evaluation reports them
    lfw_std: float
    auc: float
    tar_far_1e3: float
    sep_mean: float  # = the converged L_r: RF Eq. 9 is the mean over classes of the nearest-class cosine
    sep_std: float
    train_minutes: float  # the run's training time, summed over resumed parts
    checkpoint: str

    @staticmethod
    def load(path: Path) -> RowResult:
        return RowResult(**json.loads(path.read_text()))


@dataclass(frozen=True)
class LfwPairs:
    """The LFW pairs and their aligned crops, prepared once for every row."""

    pairs: PairList
    aligned: AlignedSet


def result_path(out_dir: Path, row: Row, prefix: str = "face_repro") -> Path:
    return out_dir / f"{prefix}_{row.key}" / "result.json"


def run_row(row: Row, epochs: float, lfw: LfwPairs, out_dir: Path, extra: tuple[str, ...] = (),
            recipe: str = RECIPE, prefix: str = "face_repro") -> RowResult:
    """Train (or finish) the row's run of `recipe`, then evaluate its last checkpoint; a finished row is read back.

    `extra` overrides apply to every row (e.g. width=1.0 on a GPU, or another data.dir).
    """
    done = result_path(out_dir, row, prefix)
    if done.exists():
        return RowResult.load(done)
    overrides = [*extra, f"name={prefix}_{row.key}", f"epochs={epochs:g}", f"out_dir={out_dir}", *row.overrides]
    trained = train(load_config(Path(recipe), overrides))
    net, ckpt = load_backbone(trained.checkpoint)
    minutes = ckpt.get("train_seconds", 0.0) / 60
    scores = verify_pairs(lfw.pairs, embed_aligned(lfw.aligned, network_embedder(net)))
    sep = sep_statistics(ckpt["loss"]["head.weight"])
    far = next(p for p in scores.tar_at_far if p.far == 1e-3)
    result = RowResult(
        row.key, row.label, list(row.overrides), row.lambda_, epochs, trained.steps, scores.mean_accuracy, scores.std_accuracy,
        scores.auc, far.tar, sep.mean, sep.std, minutes, str(trained.checkpoint),
    )  # fmt: skip
    done.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result
