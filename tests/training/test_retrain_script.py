"""scripts/retrain.sh end to end on real CelebA crops: prepare -> train -> export + cohort -> LFW evaluation -> install,
from one recipe, as a user runs it (a quarter-width net, 20 steps and 20 LFW pairs keep it to about a minute)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from service.config import REPO_ROOT
from service.vision.embedder import Embedder
from tests.training.data.conftest import source_dir  # noqa: F401  the tiny CelebA folder fixture

SCRIPT = REPO_ROOT / "scripts" / "retrain.sh"
TINY = REPO_ROOT / "training" / "configs" / "tiny_cpu.yaml"


def test_retrain_installs_an_evaluated_model(source_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    recipe = tmp_path / "retrain_tiny.yaml"
    recipe.write_text(f"inherits: {TINY}\nname: retrain_tiny\nwidth: 0.25\n"
                      f"data:\n  dir: {tmp_path / 'packed'}\nout_dir: {tmp_path / 'runs'}\n")
    models = tmp_path / "models"
    models.mkdir()
    (models / "detector").symlink_to(REPO_ROOT / "models" / "detector", target_is_directory=True)
    env = {**os.environ, "FACEVER_MODELS_DIR": str(models), "EVAL_ARGS": "--pairs 5 --folds 2",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run(["bash", str(SCRIPT), str(recipe), str(source_dir)], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    report = json.loads((tmp_path / "runs" / "retrain_tiny" / "eval" / "lfw-retrain_tiny.json").read_text())
    assert report["result"]["n_pairs"] == 20
    embedder = Embedder(models / "retrain_tiny")  # installed: loads, and its sha256 matches the file
    card = embedder.card
    assert card.training.epochs and "width 0.25" in card.training.notes
    assert card.metrics.lfw_mean == report["result"]["mean_accuracy"]
    assert card.thresholds.best_accuracy == report["result"]["best_threshold"]["value"]
    assert "20 pairs" in card.thresholds.calibrated_on
    assert card.cohort is not None and embedder.scoring.cohort is not None  # scored as it was evaluated
    assert report["cohort"]["sha256"] == card.cohort.sha256
