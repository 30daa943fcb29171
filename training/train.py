"""The config-driven training loop: SGD + schedule, AMP, torchrun/DDP, checkpoints with exact resume, logs.

Scaling the classifier with the number of identities (C): the backbone and the FaceLoss head (W, C x 512)
are wrapped together in one DistributedDataParallel module, so W is replicated on every rank and its
gradient is all-reduced with the backbone's. That costs C x 512 x 4 bytes per rank for W, as much again for
its gradient and its momentum, and one all-reduce of C x 512 floats per step: ~0.6 GB and a 200 MB
all-reduce at C = 100k, which one H100 node handles. RegularFace's term is computed in chunks (no C x C
matrix), so it too stays bounded up to C ~ 100k. Beyond ~100k identities (e.g. WebFace42M's 2M), the path
is Partial FC (arcface_torch): shard W's rows over the ranks, all-gather the features, compute each rank's
logits block and a distributed softmax, and optionally sample the negative classes; RegularFace's nearest
neighbour search then needs an all-gather of W per chunk. That is not implemented: up to ~100k classes the
replicated head is simpler and exact.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from training.checkpoint import Progress, latest_checkpoint, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from training.config import TrainConfig, load_config
from training.data.dataset import PackedFaces, make_loader
from training.distributed import (
    DistEnv,
    EpochSampler,
    SeededItems,
    init_distributed,
    mean_over_ranks,
    shutdown_distributed,
)
from training.distill.dataset import DistillFaces
from training.distill.teacher import TEACHER_DIM
from training.losses import FaceLoss, LossTerms, annealed_lambda
from training.losses.distill import DistillLoss, DistillTerms
from training.nets import build_embedder
from training.schedule import LrSchedule
from training.sep import sep_statistics

SCALARS = ("loss/total", "loss/base", "loss/regularizer", "loss/iam", "loss/center", "loss/kd", "loss/kd_feature",
           "loss/kd_relation", "train/accuracy")
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class FaceModel(nn.Module):
    """Backbone + loss head (+ distillation map) as one module, so one DDP wrapper syncs every gradient."""

    def __init__(self, backbone: nn.Module, loss: FaceLoss, amp_dtype: torch.dtype | None,
                 distill: DistillLoss | None = None, distill_weight: float = 0.0) -> None:
        super().__init__()
        self.backbone, self.loss, self.amp_dtype = backbone, loss, amp_dtype
        self.distill, self.distill_weight = distill, distill_weight

    def forward(self, images: torch.Tensor, labels: torch.Tensor, epoch: float,
                teacher: torch.Tensor | None = None) -> tuple[LossTerms, DistillTerms | None]:
        """The face loss on the labelled rows (label >= 0) and, with teacher vectors, γ·L_KD on every row."""
        with torch.autocast(images.device.type, self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
            features = self.backbone(images)
        # margins, softmax and RegularFace's cosines are sensitive to rounding: the head always runs in fp32
        terms = self.loss(features.float(), labels, epoch)
        if self.distill is None or teacher is None:
            return terms, None
        kd = self.distill(features.float(), teacher)
        return replace(terms, total=terms.total + self.distill_weight * kd.total), kd


@dataclass
class TrainResult:
    """What a run did: steps done, where its last checkpoint is, the logged mean total losses."""

    steps: int
    epoch: int
    checkpoint: Path | None
    losses: list[float] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def param_groups(backbone: nn.Module, loss: FaceLoss, cfg: TrainConfig,
                 distill: DistillLoss | None = None) -> list[dict[str, Any]]:
    """Weight decay on conv/linear weights (and W when head_weight_decay); none on biases, BN and PReLU."""
    decay, no_decay = [], []
    for p in [*backbone.parameters(), *(distill.parameters() if distill is not None else [])]:
        (decay if p.ndim > 1 else no_decay).append(p)
    for p in loss.parameters():
        (decay if p.ndim > 1 and cfg.optim.head_weight_decay else no_decay).append(p)
    return [{"params": decay, "weight_decay": cfg.optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """AMP only on CUDA: CPU autocast would be slower and change the numerics the tests check."""
    return AMP_DTYPES.get(cfg.amp) if device.type == "cuda" else None


class Trainer:
    """Holds the model, optimizer, schedule, loader and logs of one run; ``fit`` trains to the end."""

    def __init__(self, cfg: TrainConfig, env: DistEnv) -> None:
        if cfg.batch_size % env.world_size:
            raise ValueError(f"batch_size {cfg.batch_size} must divide by the {env.world_size} ranks")
        self.cfg, self.env = cfg, env
        seed_everything(cfg.seed)
        self.dataset = training_set(cfg)
        batch = cfg.batch_size // env.world_size
        self.sampler = EpochSampler(len(self.dataset), batch, seed=cfg.seed, rank=env.rank, world_size=env.world_size)
        self.loader = make_loader(SeededItems(self.dataset), batch, shuffle=False, workers=cfg.data.workers, seed=cfg.seed,
                                  drop_last=True, sampler=self.sampler)
        self.steps_per_epoch = self.sampler.steps_per_epoch
        total = math.ceil(cfg.epochs * self.steps_per_epoch)
        self.total_steps = min(total, cfg.max_steps or total)
        self.backbone = build_embedder(cfg.seed, batch_norm=cfg.batch_norm, width=cfg.width)
        self.face_loss = FaceLoss(self.backbone.feature_dim, self.dataset.num_classes, cfg.loss)
        self.distill = (DistillLoss(self.backbone.feature_dim, TEACHER_DIM, cfg.distill.relation_weight,
                                    torch.from_numpy(self.dataset.teacher_mean))
                        if isinstance(self.dataset, DistillFaces) else None)
        model = FaceModel(self.backbone, self.face_loss, amp_dtype(cfg, env.device), self.distill,
                          cfg.distill.weight if cfg.distill is not None else 0.0).to(env.device)
        model = model.to(memory_format=torch.channels_last)  # faster convolutions: cuDNN under AMP, oneDNN on CPU
        self.model: nn.Module = DistributedDataParallel(
            model, device_ids=[env.local_rank] if env.device.type == "cuda" else None) if env.distributed else model
        self.optimizer = torch.optim.SGD(param_groups(self.backbone, self.face_loss, cfg, self.distill), lr=cfg.optim.lr,
                                         momentum=cfg.optim.momentum, nesterov=cfg.optim.nesterov)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, LrSchedule.build(
            cfg.schedule, cfg.optim.lr, self.steps_per_epoch, total))
        self.scaler = torch.amp.GradScaler(env.device.type, enabled=cfg.amp == "fp16" and env.device.type == "cuda")
        self.progress = Progress()
        self.train_seconds = 0.0  # wall time spent in fit, summed over resumed runs

    # --- checkpoints -------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "backbone": self.backbone.state_dict(), "loss": self.face_loss.state_dict(),
            "distill": self.distill.state_dict() if self.distill is not None else None,
            "teacher_sha256": getattr(self.dataset, "teacher_sha256", None),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "progress": self.progress, "rng": rng_state(),
            "config": self.cfg.model_dump(mode="json"), "num_classes": self.dataset.num_classes,
            "steps_per_epoch": self.steps_per_epoch, "train_seconds": self.train_seconds + self._fit_seconds(),
        }

    def save(self) -> Path | None:
        if not self.env.is_main:
            return None
        return save_checkpoint(self.cfg.checkpoint_dir, self.progress.step, self.state(), self.cfg.keep_checkpoints)

    def restore(self, path: Path) -> None:
        ckpt = load_checkpoint(path)
        self.backbone.load_state_dict(ckpt["backbone"])
        self.face_loss.load_state_dict(ckpt["loss"])
        if self.distill is not None:
            self.distill.load_state_dict(ckpt["distill"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.progress = ckpt["progress"]
        self.train_seconds = ckpt.get("train_seconds", 0.0)
        set_rng_state(ckpt["rng"])

    # --- the loop ----------------------------------------------------------------------------------

    _fit_started: float | None = None

    def _fit_seconds(self) -> float:
        return time.perf_counter() - self._fit_started if self._fit_started is not None else 0.0

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   teacher: torch.Tensor | None = None) -> torch.Tensor:
        """One optimizer step; returns the step's scalars (SCALARS order) as a detached tensor, no sync."""
        device = self.env.device
        images = images.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        labels = labels.to(device, non_blocking=True)
        teacher = teacher.to(device, non_blocking=True) if teacher is not None else None
        epoch = self.progress.epoch + self.progress.batch_in_epoch / self.steps_per_epoch
        terms, kd = self.model(images, labels, epoch, teacher)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(terms.total).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.face_loss.after_step()  # RF Eq. 13 projection of W and the centre update, after every step
        hits = (terms.logits.argmax(1) == terms.labels).float()
        accuracy = hits.mean() if len(hits) else hits.new_zeros(())
        zero = terms.total.new_zeros(())
        kd_terms = (kd.total, kd.feature, kd.relation) if kd is not None else (zero, zero, zero)
        return torch.stack([terms.total, terms.base, terms.regularizer, terms.iam, terms.center, *kd_terms,
                            accuracy]).detach()

    def fit(self, writer: Any = None, on_epoch_end: Callable[[Trainer], dict[str, float]] | None = None) -> TrainResult:
        """Train from self.progress to the end (or max_steps); checkpoint every epoch and on stopping."""
        result = TrainResult(self.progress.step, self.progress.epoch, None)
        self._fit_started = time.perf_counter()
        bar = tqdm(total=self.total_steps, initial=self.progress.step, unit="step", disable=not self.env.is_main)
        running, count = torch.zeros(len(SCALARS), device=self.env.device), 0
        self.model.train()
        while self.progress.step < self.total_steps:
            p = self.progress
            self.sampler.set_epoch(p.epoch, skip_batches=p.batch_in_epoch)
            for batch in self.loader:
                running += self.train_step(*batch)
                count += 1
                p = self.progress = Progress(p.epoch, p.step + 1, p.batch_in_epoch + 1)
                bar.update()
                if p.step % self.cfg.log_every == 0 or p.step == self.total_steps:
                    means = (mean_over_ranks(running) / count).tolist()
                    result.losses.append(means[0])
                    self._log(writer, dict(zip(SCALARS, means, strict=True)), p.step)
                    bar.set_postfix(loss=f"{means[0]:.4f}", acc=f"{means[-1]:.3f}")
                    running.zero_()
                    count = 0
                if p.step >= self.total_steps:
                    break
            if p.batch_in_epoch == self.steps_per_epoch:  # a whole epoch done: log its Sep, evaluate, save
                self.progress = Progress(p.epoch + 1, p.step, 0)
                sep = sep_statistics(self.face_loss.head.weight.detach())
                self._log(writer, {"sep/mean": sep.mean, "sep/std": sep.std}, p.step)
                if on_epoch_end is not None:
                    self._log(writer, on_epoch_end(self), p.step)
                result.checkpoint = self.save()
        if self.progress.batch_in_epoch:  # stopped mid-epoch (max_steps): keep the partial epoch too
            result.checkpoint = self.save()
        bar.close()
        result.steps, result.epoch = self.progress.step, self.progress.epoch
        return result

    def _log(self, writer: Any, scalars: dict[str, float], step: int) -> None:
        if writer is None or not self.env.is_main:
            return
        loss, epoch = self.cfg.loss, self.progress.epoch + self.progress.batch_in_epoch / self.steps_per_epoch
        scalars = {**scalars, "train/lr": self.scheduler.get_last_lr()[0],
                   "loss/lambda_t": annealed_lambda(loss.lambda_, epoch, loss.lambda_warmup_epochs)}
        for tag, value in scalars.items():
            writer.add_scalar(tag, value, step)


def training_set(cfg: TrainConfig) -> PackedFaces | DistillFaces:
    """The recipe's faces: the labelled packed folder, or with `distill` that folder, the unlabelled ones and
    every face's teacher vector."""
    if cfg.distill is None:
        return PackedFaces(cfg.data.dir, train=True)
    d = cfg.distill
    return DistillFaces(cfg.data.dir, d.unlabelled, use_labels=d.use_labels, unlabelled_groups=d.unlabelled_groups,
                        drop_overlap=d.drop_lfw_overlap, train=True)


def epoch_end_hook(cfg: TrainConfig, env: DistEnv) -> Callable[[Trainer], dict[str, float]] | None:
    """The LFW check every ``eval.every_epochs`` epochs, on rank 0 (the others wait at the next all-reduce)."""
    if not cfg.eval.every_epochs or not env.is_main:
        return None
    from training.quick_eval import lfw_check  # needs the service's detector models: only when asked for

    check = lfw_check(cfg.eval)

    def hook(trainer: Trainer) -> dict[str, float]:
        due = trainer.progress.epoch % cfg.eval.every_epochs == 0 or trainer.progress.step == trainer.total_steps
        return check(trainer.backbone, env.device) if due else {}

    return hook


def train(cfg: TrainConfig, *, resume_from: Path | None = None) -> TrainResult:
    """Run (or continue) a training run; under torchrun every rank calls this with the same config.

    Resumes from ``resume_from``, else from the newest checkpoint in the run's checkpoint folder (a run
    restarted after a crash or a preemption just continues; start over with another ``name``).
    """
    env = init_distributed()
    try:
        trainer = Trainer(cfg, env)
        start = resume_from or latest_checkpoint(cfg.checkpoint_dir)
        if start is not None:
            trainer.restore(start)
        writer = None
        if env.is_main:
            from torch.utils.tensorboard import SummaryWriter

            print(trainer.dataset.stats())
            print(f"{cfg.name}: {trainer.total_steps} steps of {cfg.batch_size} ({trainer.steps_per_epoch}/epoch) "
                  f"on {env.world_size} x {env.device}" + (f", resuming {start}" if start else ""))
            # purge_step drops events a crashed run logged after the checkpoint we resume from
            writer = SummaryWriter(str(cfg.log_dir), purge_step=trainer.progress.step or None)
        try:
            result = trainer.fit(writer, epoch_end_hook(cfg, env))
            # a finished run trains no step and saves nothing: its checkpoint is the one it resumed from
            return result if result.checkpoint is not None or not env.is_main else replace(result, checkpoint=start)
        finally:
            if writer is not None:
                writer.close()
    finally:
        shutdown_distributed()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="a recipe, e.g. training/configs/tiny_cpu.yaml")
    parser.add_argument("--resume", type=Path, help="continue from this checkpoint (default: the run's newest)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set loss.lambda_=4 (repeatable)")
    args = parser.parse_args(argv)
    result = train(load_config(args.config, args.overrides), resume_from=args.resume)
    if result.checkpoint is not None:  # rank 0 writes the checkpoints, so it reports
        print(f"done: {result.steps} steps, epoch {result.epoch}, checkpoint {result.checkpoint}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
