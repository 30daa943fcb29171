"""DDP on CPU: `torchrun --nproc_per_node 2 -m training.train` (gloo) trains the tiny recipe to a checkpoint: the
path a multi-GPU run takes (process group, split sampler, gradient all-reduce, rank-0 checkpoints), minus NCCL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from service.config import REPO_ROOT
from tests.training.data.conftest import prepared, source_dir  # noqa: F401  the tiny prepared set fixtures
from training.checkpoint import latest_checkpoint, load_checkpoint
from training.config import load_config

TINY = REPO_ROOT / "training" / "configs" / "tiny_cpu.yaml"
STEPS = 4


def test_two_cpu_ranks_train_to_a_checkpoint(prepared, tmp_path: Path) -> None:  # noqa: F811
    data_dir = prepared[0]
    overrides = [f"--set=data.dir={data_dir}", f"--set=out_dir={tmp_path}", f"--set=max_steps={STEPS}",
                 "--set=width=0.25", "--set=name=ddp"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "training.train", "--config", str(TINY), *overrides]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    cfg = load_config(TINY, [f"data.dir={data_dir}", f"out_dir={tmp_path}", "name=ddp"])
    ckpt = load_checkpoint(latest_checkpoint(cfg.checkpoint_dir))
    assert ckpt["progress"].step == STEPS  # one checkpoint, written by rank 0 only, at the last step
    assert len(list(cfg.checkpoint_dir.glob("step_*.pt"))) >= 1
    assert all(torch.isfinite(t).all() for t in ckpt["backbone"].values() if t.is_floating_point())
