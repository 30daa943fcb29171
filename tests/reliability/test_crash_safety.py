"""kill -9 of a live `facever serve` during concurrent writes, a few rounds per database (the long run is
benchmarks/crash_safety.py): acknowledged writes and deletes survive, nothing is half-written, the index agrees
with SQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.crash_safety import ACTIONS, RunResult, postgres_database, run
from service.config import Settings
from tests.service.db.databases import POSTGRES_URL

ROUNDS = 3


def _rounds(backend: str, settings: Settings, folder: Path) -> RunResult:
    if backend == "sqlite":
        return run(backend, f"sqlite:///{folder / 'facever.db'}", ROUNDS, 0, folder, settings)
    with postgres_database(POSTGRES_URL) as url:
        return run(backend, url, ROUNDS, 0, folder, settings)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_during_writes_loses_nothing_acknowledged(backend: str, service_settings: Settings,
                                                         tmp_path: Path) -> None:
    result = _rounds(backend, service_settings, tmp_path)
    assert result.tally.problems == []
    assert len(result.kill_after_s) == ROUNDS and len(result.restart_s) == ROUNDS + 1
    assert set(result.tally.acknowledged) == set(ACTIONS)  # every kind of write was acknowledged, and checked
    assert result.probes > 0 and result.final_faces > 0
