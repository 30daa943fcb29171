"""`make serve` takes the embedder from the environment, as the README says (dry runs: `make -n`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from service.config import REPO_ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
INT8 = "resnet20q-kd-cosface-rf-iam-int8"  # a second shipped embedder


def _serve_line(tmp_path: Path, *args: str, **env: str) -> str:
    """The command `make serve` would run, with a throwaway venv path so nothing else is considered built."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("FACEVER_")}
    done = subprocess.run(["make", "-n", "serve", f"VENV={tmp_path / 'venv'}", *args], cwd=REPO_ROOT,
                          env={**clean, **env}, capture_output=True, text=True, timeout=60, check=True)
    return next(line for line in done.stdout.splitlines() if " serve --host " in line)


def test_the_environment_variable_chooses_the_embedder(tmp_path: Path) -> None:
    assert _serve_line(tmp_path, FACEVER_EMBEDDER=INT8).startswith(f"FACEVER_EMBEDDER={INT8} ")


def test_without_it_the_default_is_served_and_the_make_variable_still_wins(tmp_path: Path) -> None:
    assert _serve_line(tmp_path).startswith("FACEVER_EMBEDDER=resnet20q-kd-cosface-rf-iam ")
    assert _serve_line(tmp_path, f"EMBEDDER={INT8}", FACEVER_EMBEDDER="other").startswith(f"FACEVER_EMBEDDER={INT8} ")


def test_host_and_port_come_from_the_environment(tmp_path: Path) -> None:
    assert "--host ${HOST:-127.0.0.1} --port ${PORT:-8000}" in _serve_line(tmp_path)
