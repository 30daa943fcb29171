"""Sustained load, briefly (the 10-minute runs are benchmarks/sustained_load.py): locust's mixed load of verify,
identify, enrol and delete on two uvicorn workers over SQLite and on two replicas over one Postgres database.
No request fails, every worker is checked against SQL and agrees with it, and locust's statistics cover every
route of the mix."""

from __future__ import annotations

from pathlib import Path

import json

import pytest

from benchmarks.report import ROOT
from benchmarks.sustained_load import REPORT, load_result, run_command, section, sustained_load
from service.config import Settings

ROUTES = {"verify photo-photo", "verify photo-identity", "identify", "create identity", "enrol face", "delete identity"}


@pytest.mark.parametrize("setup", ["workers", "replicas"])
def test_short_sustained_load(setup: str, service_settings: Settings, tmp_path: Path) -> None:
    result, trace = sustained_load(setup, service_settings, tmp_path, seconds=25, users=4, workers=2, replica_count=2,
                                   people=12)
    assert result.failures == [] and result.failed == 0
    assert result.problems == []  # nothing half-written, every worker's index equals SQL, no runaway memory
    assert result.worker_checks == 2
    assert {route.name for route in result.routes} == ROUTES
    assert all(route.requests > 0 for route in result.routes)
    assert len(trace.rss) == 2 and all(len(samples) == len(trace.times) >= 2 for samples in trace.rss.values())


@pytest.mark.parametrize("setup", ["workers", "replicas"])
def test_the_published_figures_are_those_of_the_committed_results(setup: str) -> None:
    payload = json.loads((ROOT / "benchmarks" / "results" / f"sustained_load_{setup}.json").read_text())
    result = load_result(payload)
    text = section(result, run_command(setup, result.seconds / 60, result.users), payload["machine"]["cores"])
    assert text.strip() in REPORT.read_text()
    assert result.seconds == 600 and result.failed == 0 and result.problems == []
