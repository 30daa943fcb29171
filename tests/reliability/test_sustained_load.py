"""Sustained load, briefly (the 10-minute runs are benchmarks/sustained_load.py): locust's mixed load of verify,
identify, enrol and delete on two uvicorn workers over SQLite and on two replicas over one Postgres database.
No request fails, every worker is checked against SQL and agrees with it, and locust's statistics cover every
route of the mix."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.sustained_load import sustained_load
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
