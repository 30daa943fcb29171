"""MNIST loading for the toy reproductions: seeded training subsets, digit filters, tensors ready to train."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from service.config import REPO_ROOT

MNIST_PATH = REPO_ROOT.parent / "shared" / "data" / "mnist.npz"


@dataclass(frozen=True)
class Split:
    images: Tensor  # (N, 1, 28, 28) float32, (pixel - 127.5) / 128 like the face contract
    labels: Tensor  # (N,) int64, remapped to 0..C-1

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Mnist:
    train: Split
    test: Split
    digits: tuple[int, ...]  # original digit of each class index


def _split(images: np.ndarray, labels: np.ndarray, digits: tuple[int, ...]) -> Split:
    keep = np.isin(labels, digits)
    remap = np.full(10, -1, dtype=np.int64)
    remap[list(digits)] = np.arange(len(digits))
    x = (torch.from_numpy(images[keep].astype(np.float32))[:, None] - 127.5) / 128.0
    return Split(x, torch.from_numpy(remap[labels[keep].astype(np.int64)]))


def load_mnist(
    digits: tuple[int, ...] = tuple(range(10)),
    train_size: int | None = None,
    subset_seed: int = 0,
    path: Path = MNIST_PATH,
) -> Mnist:
    """MNIST restricted to `digits`; `train_size` draws a fixed seeded subset of the (filtered) training set.

    The subset seed is separate from the training seed, so every seed of a table trains on the same samples.
    """
    with np.load(path) as npz:
        train = _split(npz["x_train"], npz["y_train"], digits)
        test = _split(npz["x_test"], npz["y_test"], digits)
    if train_size is not None and train_size < len(train):
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(subset_seed))[:train_size]
        train = Split(train.images[order], train.labels[order])
    return Mnist(train, test, digits)
