"""Training checkpoints: atomic save, latest lookup, and every RNG state needed for an exact resume."""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_GLOB = "step_*.pt"
_STEP_RE = re.compile(r"step_(\d+)\.pt$")


@dataclass(frozen=True)
class Progress:
    """Where training stands: ``step`` optimizer steps done, ``epoch`` the epoch they are in."""

    epoch: int = 0
    step: int = 0
    batch_in_epoch: int = 0  # batches of ``epoch`` already consumed (0 at an epoch boundary)


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch CPU and (when present) every CUDA generator's state."""
    state: dict[str, Any] = {
        "python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_path(directory: Path, step: int) -> Path:
    return Path(directory) / f"step_{step:09d}.pt"


def latest_checkpoint(directory: Path) -> Path | None:
    """The checkpoint with the most steps in directory, or None."""
    found = [(int(m.group(1)), p) for p in Path(directory).glob(CHECKPOINT_GLOB) if (m := _STEP_RE.search(p.name))]
    return max(found)[1] if found else None


def save_checkpoint(directory: Path, step: int, payload: dict[str, Any], keep: int) -> Path:
    """Write payload atomically (temp file + fsync + rename) and prune all but the newest ``keep``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory, step)
    tmp = path.with_suffix(".pt.tmp")
    with tmp.open("wb") as handle:
        torch.save(payload, handle)
        handle.flush()
        os.fsync(handle.fileno())  # a crash after the rename must not leave a truncated "latest"
    tmp.replace(path)
    for old in sorted(directory.glob(CHECKPOINT_GLOB))[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load on CPU; weights_only=False because the payload carries RNG states and the config dict."""
    return torch.load(path, map_location="cpu", weights_only=False)
