"""One seeded toy training run: a net + the project's FaceLoss, Adam or SGD with cosine decay, test features and accuracy."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from tqdm import tqdm

from training.losses import FaceLoss, LossConfig
from training.toy.data import Split

TRAIN_EVAL = 3_000  # training samples scored for the train accuracy (the subsets are already shuffled)


@dataclass(frozen=True)
class FitConfig:
    epochs: float
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 5e-4
    max_steps: int | None = None  # caps the run (tests); None = epochs × batches per epoch
    optimizer: Literal["adam", "sgd"] = "adam"  # sgd: Nesterov momentum 0.9
    momentum: float = 0.9
    head_weight_decay: bool = True  # False: weight decay on the net only, not on the loss's head and centres

    def describe(self) -> str:
        """The recipe in words, for the report."""
        opt = "Adam" if self.optimizer == "adam" else f"SGD (Nesterov momentum {self.momentum:g})"
        return (
            f"{opt} lr {self.lr:g}, weight decay {self.weight_decay:g}, cosine decay to 0, batch {self.batch_size}, "
            f"{self.epochs:g} epoch(s)"
        )

    def make_optimizer(self, net: list[nn.Parameter], head: list[nn.Parameter]) -> torch.optim.Optimizer:
        groups = [
            {"params": net},
            {"params": head, "weight_decay": self.weight_decay if self.head_weight_decay else 0.0},
        ]
        if self.optimizer == "adam":
            return torch.optim.Adam(groups, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(
            groups, lr=self.lr, momentum=self.momentum, nesterov=True, weight_decay=self.weight_decay
        )


@dataclass
class RunResult:
    losses: list[float]  # total loss of every step
    test_features: Tensor  # (N, D) raw features of the test split
    test_labels: Tensor
    accuracy: float  # % of test samples whose largest head cosine is their class
    class_weight: Tensor  # (C, D) the head's W rows (class centres of the angular losses)
    centers: Tensor | None  # center loss's learned centres, when it is on
    seconds: float  # wall time of training and evaluation
    train_accuracy: float | None = None  # % of the first TRAIN_EVAL training samples (None in older stored runs)


@torch.no_grad()
def embed(net: nn.Module, images: Tensor, batch_size: int = 1000) -> Tensor:
    net.eval()
    return torch.cat([net(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])


def train_run(
    make_net: Callable[[], nn.Module],
    loss_config: LossConfig,
    train: Split,
    test: Split,
    fit: FitConfig,
    seed: int,
    desc: str = "train",
) -> RunResult:
    """Train from `seed` (net init, head init and batch order all follow it) and evaluate on `test`."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    net = make_net()
    num_classes = int(train.labels.max()) + 1
    feature_dim = int(net(train.images[:2]).shape[1])
    loss_fn = FaceLoss(feature_dim, num_classes, loss_config)
    optimizer = fit.make_optimizer(list(net.parameters()), list(loss_fn.parameters()))
    per_epoch = math.ceil(len(train) / fit.batch_size)
    total = fit.max_steps or math.ceil(fit.epochs * per_epoch)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total)
    generator = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    order = torch.empty(0, dtype=torch.long)
    net.train()
    loss_fn.train()
    for step in tqdm(range(total), desc=desc, leave=False):
        if step % per_epoch == 0:
            order = torch.randperm(len(train), generator=generator)
        batch = order[(step % per_epoch) * fit.batch_size :][: fit.batch_size]
        terms = loss_fn(net(train.images[batch]), train.labels[batch], epoch=step / per_epoch)
        optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        optimizer.step()
        loss_fn.after_step()
        schedule.step()
        losses.append(float(terms.total.detach()))
    loss_fn.eval()
    features = embed(net, test.images)
    train_accuracy = _accuracy(loss_fn, embed(net, train.images[:TRAIN_EVAL]), train.labels[:TRAIN_EVAL])
    centers = loss_fn.center.centers.clone() if loss_fn.center is not None else None
    weight = loss_fn.head.weight.detach().clone()
    return RunResult(
        losses, features, test.labels, _accuracy(loss_fn, features, test.labels), weight, centers,
        time.perf_counter() - started, train_accuracy,
    )  # fmt: skip


@torch.no_grad()
def _accuracy(loss_fn: FaceLoss, features: Tensor, labels: Tensor) -> float:
    """% of samples whose largest head cosine is their class."""
    cosines = loss_fn.head(features, labels).cosines
    return 100.0 * float((cosines.argmax(dim=1) == labels).float().mean())
