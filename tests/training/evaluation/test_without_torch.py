"""`facever evaluate` on an installed ONNX model needs no torch, and its --help none of the training extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
# What a service-only install lacks, made unimportable: the finder raises as an absent package would
# (putting None in sys.modules instead would break scipy, which probes sys.modules for torch).
BLOCK = """
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition('.')[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Absent())
"""
RUN_CLI = "from service.cli import app; app()"


def _python(blocked: set[str], code: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = BLOCK.format(blocked=sorted(blocked)) + code
    return subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_evaluate_help_works_without_the_training_extra() -> None:
    done = _python({"torch", "torchvision", "sklearn", "matplotlib", "yaml", "onnx"}, RUN_CLI, "evaluate", "--help")
    assert done.returncode == 0, done.stderr
    assert "lfw" in done.stdout and "pairs" in done.stdout


def test_evaluate_without_scikit_learn_says_what_to_install(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("a.jpg,b.jpg,1\n")
    done = _python({"torch", "sklearn"}, RUN_CLI, "evaluate", "pairs", str(pairs), "--out", str(tmp_path))
    assert done.returncode == 3
    assert "'sklearn'" in done.stderr and "pip install scikit-learn matplotlib" in done.stderr


def test_every_evaluation_module_imports_without_torch() -> None:
    code = (
        "import training.evaluation as ev, training.evaluation.cli\n"
        "[getattr(ev, name) for name in ev.__all__]\n"
        "assert 'torch' not in sys.modules\n"
    )
    done = _python({"torch", "torchvision"}, code)
    assert done.returncode == 0, done.stderr
