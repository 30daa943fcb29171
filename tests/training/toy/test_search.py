"""The recipe search command on tiny real-MNIST runs: its table, its one-factor comparisons, resuming."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import training.toy.__main__ as toy_main
from training.toy.experiments import IamSettings
from training.toy.runs import run_tables
from training.toy.search import SECTION, SearchSettings, recipe


def tiny(settings: SearchSettings) -> SearchSettings:
    return replace(settings, fit=replace(settings.fit, max_steps=2))


TINY_SEARCH = [
    tiny(recipe("adam", 5e-4, 10, 10)),
    tiny(recipe("adam", 5e-3, 10, 10)),
    tiny(recipe("sgd", 5e-3, 16, 15)),
]
TINY_IAM = IamSettings(replace(TINY_SEARCH[2].fit, head_weight_decay=True), width=0.25, s=16)


def section(doc: Path) -> str:
    text = doc.read_text()
    return text[text.index(f"<!-- {SECTION}:start -->") : text.index(f"<!-- {SECTION}:end -->")]


def test_search_writes_its_table_and_rereads_finished_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toy_main, "SEARCH", TINY_SEARCH)
    monkeypatch.setattr(toy_main, "IAM", TINY_IAM)
    argv = ["search", "--store", str(tmp_path / "store"), "--docs", str(tmp_path), "--workers", "1"]
    toy_main.main(argv)
    text = section(tmp_path / "reproduction.md")
    stored = run_tables([(settings, 1) for settings in TINY_SEARCH], tmp_path / "store")
    assert stored.trained == 0 and "trained 3 of them, 1 at a time" in text
    runs = [row.runs[0] for [row] in stored.experiments]
    for run in runs:  # each stored run carries its train accuracy, scored on TRAIN_EVAL samples
        assert run.train_accuracy is not None
        assert f"| {run.train_accuracy:.2f} | {run.accuracy:.2f} | {run.seconds / 60:.1f} |" in text

    adam, adam_wd, _ = runs
    assert (
        f"- weight decay 0.0005 → 0.005 (optimiser Adam lr 0.001, s 10, epochs 10): test {adam.accuracy:.2f} → "
        f"{adam_wd.accuracy:.2f} % ({adam_wd.accuracy - adam.accuracy:+.2f} points)"
    ) in text
    assert text.count("\n- ") == 4  # the one one-factor pair, the best run, the chosen row, the width
    assert "use row 3's recipe" in text
    best = max(runs, key=lambda r: r.accuracy)
    assert f"The best test accuracy, {best.accuracy:.2f} %" in text

    stamps = [p.stat().st_mtime_ns for p in sorted((tmp_path / "store").rglob("seed0.pt"))]
    toy_main.main(argv)
    assert [p.stat().st_mtime_ns for p in sorted((tmp_path / "store").rglob("seed0.pt"))] == stamps
    assert "retraining none" in section(tmp_path / "reproduction.md")
