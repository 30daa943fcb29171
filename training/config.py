"""Training recipes: YAML files layered on a base (``inherits:``) and validated into a typed config."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from training.losses import LossConfig

INHERITS_KEY = "inherits"


class _Section(BaseModel):
    # a misspelt key would otherwise silently train with a default: refuse it
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """Packed aligned faces (``facever prepare`` output) and how they are loaded."""

    dir: Path
    workers: int = Field(2, ge=0, description="DataLoader worker processes per rank")


class OptimConfig(_Section):
    """SGD as in SphereFace/RegularFace/IAM: momentum 0.9, weight decay 5e-4, lr 0.1 (batch 256)."""

    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(5e-4, ge=0)
    head_weight_decay: bool = Field(True, description="decay the classifier W too (Caffe decay_mult 1)")


class ScheduleConfig(_Section):
    """Learning rate per iteration: optional linear warm-up, then step decay at epoch milestones or cosine."""

    kind: Literal["step", "cosine"] = "step"
    milestones: list[float] = Field(default_factory=list, description="epochs at which lr *= gamma")
    gamma: float = Field(0.1, gt=0)
    warmup_epochs: float = Field(0.0, ge=0)
    min_lr: float = Field(0.0, ge=0, description="cosine floor")


class EvalConfig(_Section):
    """Quick LFW evaluation on rank 0 after some epochs; every_epochs = 0 disables it."""

    every_epochs: int = Field(0, ge=0)
    lfw_dir: Path = Field(Path("../shared/data/lfw"), description="holds pairs.txt and lfw-deepfunneled/")
    pairs_per_fold: int | None = Field(None, gt=0, description="first N same + N different pairs per fold")
    cache_dir: Path = Field(Path(".cache/evaluation"), description="aligned LFW crops, reused across runs")
    workers: int = Field(2, ge=1, description="alignment threads (first run only, then cached)")


class DistillConfig(_Section):
    """Knowledge distillation (training.distill): γ·L_KD on every face, L_KD = L_feat + ρ·L_rel.

    The labelled faces are `data.dir`; `unlabelled` folders add faces that only L_KD sees. Every folder
    needs its teacher cache (`facever distill teach DIR`) and, with drop_lfw_overlap, its near-duplicate
    search (`facever distill overlap DIR`).
    """

    weight: float = Field(1.0, ge=0, description="γ, the weight of L_KD in the total loss")
    relation_weight: float = Field(1.0, ge=0, description="ρ, the relational term's weight inside L_KD")
    unlabelled: list[Path] = Field(default_factory=list, description="packed folders without usable labels")
    unlabelled_groups: list[str] | None = Field(None, description="only these identity folders of `unlabelled`")
    use_labels: bool = Field(True, description="false: data.dir's faces are unlabelled too (distillation only)")
    drop_lfw_overlap: bool = True


class TrainConfig(_Section):
    """One training run; ``batch_size`` is the global batch, split evenly over the DDP ranks."""

    name: str = Field(min_length=1)
    data: DataConfig
    seed: int = 0
    epochs: float = Field(gt=0)
    batch_size: int = Field(256, gt=0)
    max_steps: int | None = Field(None, gt=0, description="stop early (smoke tests); checkpoints on stop")
    batch_norm: bool = True
    width: float = Field(1.0, gt=0, le=2, description="ResNet20 channel multiplier (1.0 = the paper's net)")
    optim: OptimConfig = OptimConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    loss: LossConfig = LossConfig()
    distill: DistillConfig | None = None
    amp: Literal["bf16", "fp16", "off"] = Field("bf16", description="CUDA only; always off on CPU")
    out_dir: Path = Field(Path("runs"), description="checkpoints in out_dir/name/checkpoints, TensorBoard in .../tb")
    keep_checkpoints: int = Field(3, ge=1)
    log_every: int = Field(20, gt=0, description="steps between TensorBoard/tqdm loss updates")
    eval: EvalConfig = EvalConfig()
    notes: str = ""

    @model_validator(mode="after")
    def _milestones_in_range(self) -> TrainConfig:
        if any(not 0 < m < self.epochs for m in self.schedule.milestones):
            raise ValueError(f"schedule.milestones {self.schedule.milestones} must lie in (0, {self.epochs})")
        return self

    @property
    def run_dir(self) -> Path:
        return self.out_dir / self.name

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "tb"


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: nested sections merge key by key; scalars and lists are replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def read_layers(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The YAML at path merged over its ``inherits:`` chain (paths relative to the including file)."""
    path = Path(path).resolve()
    if path in _seen:
        raise ValueError(f"config inheritance cycle: {' -> '.join(map(str, (*_seen, path)))}")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise TypeError(f"{path}: a config must be a YAML mapping")
    parent = raw.pop(INHERITS_KEY, None)
    return merge(read_layers(path.parent / parent, (*_seen, path)), raw) if parent else raw


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings (value parsed as YAML), e.g. ``loss.lambda_=4``."""
    for item in overrides:
        dotted, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        *parents, leaf = dotted.split(".")
        patch: dict[str, Any] = {leaf: yaml.safe_load(value)}
        for key in reversed(parents):
            patch = {key: patch}
        raw = merge(raw, patch)
    return raw


def load_config(path: Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a recipe (with its base layers and overrides) into a validated TrainConfig."""
    return TrainConfig.model_validate(apply_overrides(read_layers(path), overrides or []))


def main(argv: list[str] | None = None) -> int:
    """`python -m training.config RECIPE`: print NAME, DATA_DIR, RUN_DIR, CHECKPOINT_DIR as shell assignments."""
    import argparse
    import shlex

    parser = argparse.ArgumentParser(prog="python -m training.config", description=main.__doc__)
    parser.add_argument("config", type=Path)
    cfg = load_config(parser.parse_args(argv).config)
    for key, value in {"NAME": cfg.name, "DATA_DIR": cfg.data.dir, "RUN_DIR": cfg.run_dir,
                       "CHECKPOINT_DIR": cfg.checkpoint_dir}.items():
        print(f"{key}={shlex.quote(str(value))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
