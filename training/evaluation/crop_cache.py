"""A .npz cache of aligned crops keyed by the image list, so detect + align runs once per dataset."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class AlignedSet:
    """Aligned 112x96 crops of unique images, and which of them fell back to a centre crop (no face found)."""

    paths: tuple[str, ...]
    crops: np.ndarray  # (N, 112, 96, 3) uint8 RGB
    fallback: np.ndarray  # (N,) bool

    @property
    def n_fallback(self) -> int:
        return int(self.fallback.sum())


def cache_file(cache_dir: str | Path, paths: Sequence[str], tag: str) -> Path:
    """Where the crops of exactly these images, aligned under `tag` (the detector settings), are stored."""
    digest = hashlib.sha256("\n".join([tag, *paths]).encode()).hexdigest()
    return Path(cache_dir) / f"crops-{digest[:20]}.npz"


def save_crops(path: str | Path, aligned: AlignedSet) -> Path:
    """Write uncompressed (crops barely compress, and loading stays a memory copy), atomically via rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as fh:
        np.savez(fh, paths=np.array(aligned.paths), crops=aligned.crops, fallback=aligned.fallback)
    os.replace(partial, path)
    return path


def load_crops(path: str | Path, paths: Sequence[str]) -> AlignedSet | None:
    """The cached crops when the file exists and holds exactly `paths` in that order, else None."""
    path = Path(path)
    if not path.is_file():
        return None
    with np.load(path) as data:
        if data["paths"].tolist() != list(paths):
            return None
        return AlignedSet(tuple(paths), data["crops"], data["fallback"])
