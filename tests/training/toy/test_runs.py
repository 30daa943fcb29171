"""The run store: finished runs are skipped on resume, new seeds train, changed settings never reuse old files."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from training.toy.experiments import RfSettings
from training.toy.fit import FitConfig
from training.toy.runs import load_run, run_tables

TINY_RF = RfSettings(FitConfig(epochs=1, batch_size=16, max_steps=2))


def test_resume_skips_finished_runs_and_adds_seeds(tmp_path: Path) -> None:
    tables = run_tables([(TINY_RF, 1)], tmp_path)
    [first] = tables.experiments
    assert tables.trained == 4
    files = sorted(tmp_path.rglob("seed0.pt"))
    assert len(files) == len(first) == 4  # one per RegularFace row
    stamps = {f: f.stat().st_mtime_ns for f in files}

    tables = run_tables([(TINY_RF, 2)], tmp_path)
    [again] = tables.experiments
    assert tables.trained == 4  # seed 1 of each row
    assert {f: f.stat().st_mtime_ns for f in files} == stamps  # seed 0 read back, not retrained
    assert len(sorted(tmp_path.rglob("seed1.pt"))) == 4
    for before, after in zip(first, again, strict=True):
        assert [r.losses for r in after.runs][:1] == [before.runs[0].losses]
        assert len(after.runs) == 2 and after.runs[0].losses != after.runs[1].losses
    assert not list(tmp_path.rglob("*.tmp"))

    other = RfSettings(FitConfig(epochs=1, batch_size=16, max_steps=3))
    run_tables([(other, 1)], tmp_path)
    assert len(sorted(tmp_path.rglob("seed0.pt"))) == 8  # new settings, new folders


def test_worker_processes_give_the_in_process_runs(tmp_path: Path) -> None:
    [inline] = run_tables([(TINY_RF, 1)], tmp_path / "inline").experiments
    run_tables([(TINY_RF, 1)], tmp_path / "pool", workers=2)
    pooled = sorted((tmp_path / "pool").rglob("seed0.pt"))
    by_losses = sorted(load_run(p).losses for p in pooled)
    for pooled_losses, inline_losses in zip(by_losses, sorted(r.runs[0].losses for r in inline), strict=True):
        assert pooled_losses == pytest.approx(inline_losses, rel=1e-4)  # thread counts may reorder sums
