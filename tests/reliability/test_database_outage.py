"""Database outages under light load (the long run is benchmarks/database_outage.py): Postgres stopped and started
again, a SQLite disk full. Requests fail with a coded 503, never a 500 or a hang; the service heals without a
restart; nothing acknowledged is lost; every replica's index catches up. A SQLite database on a read-only disk
stops the start with a coded error and is left as it was."""

from __future__ import annotations

import hashlib
import subprocess
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from benchmarks.database_outage import OutageResult, postgres_outage, small_filesystem, sqlite_disk_full
from service.app import create_app
from service.config import Settings
from service.errors import ErrorCode, FaceverError

ADMIN_KEY = "read-only-start-admin-key"

OUTAGE_S = 3.0


def _assert_healed(result: OutageResult) -> None:
    assert result.problems == []  # no 500, no hang, coded failures, recovered, nothing lost, indexes equal SQL
    summary = result.summary()
    assert any(key.startswith("503 database_unavailable") for key in summary["answers_during"])
    assert summary["enrolled"] > 0 and all(seconds >= 0 for seconds in result.recovered_s.values())


def test_postgres_outage(service_settings: Settings, tmp_path: Path) -> None:
    result = postgres_outage(service_settings, tmp_path, outage_s=OUTAGE_S)
    _assert_healed(result)
    assert result.summary()["ready_503_during"] > 0


def test_sqlite_disk_full(service_settings: Settings, tmp_path: Path) -> None:
    try:
        result = sqlite_disk_full(service_settings, tmp_path, outage_s=OUTAGE_S)
    except PermissionError as error:
        pytest.skip(str(error))  # a tmpfs needs root or CAP_SYS_ADMIN
    _assert_healed(result)


def test_sqlite_on_a_read_only_disk_refuses_to_start_and_stays_intact(service_settings: Settings,
                                                                    tmp_path: Path) -> None:
    with ExitStack() as stack:
        try:
            folder = stack.enter_context(small_filesystem(tmp_path / "fs"))
        except PermissionError as error:
            pytest.skip(str(error))  # a tmpfs needs root or CAP_SYS_ADMIN
        database = folder / "facever.db"
        settings = service_settings.model_copy(update={"database_url": f"sqlite:///{database}",
                                                       "api_keys": f"admin:{ADMIN_KEY}"})
        with TestClient(create_app(settings), headers={"X-API-Key": ADMIN_KEY}) as admin:
            identity = admin.post("/v1/identities", json={"name": "Kept"}).json()["id"]
        before = hashlib.sha256(database.read_bytes()).hexdigest()
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        with pytest.raises(FaceverError) as refused, TestClient(create_app(settings)):
            pass
        assert refused.value.code is ErrorCode.database_unavailable and refused.value.details["reason"]
        subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)
        assert hashlib.sha256(database.read_bytes()).hexdigest() == before
        engine = create_engine(f"sqlite:///{database}")
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        engine.dispose()
        with TestClient(create_app(settings), headers={"X-API-Key": ADMIN_KEY}) as admin:
            assert admin.get(f"/v1/identities/{identity}").json()["name"] == "Kept"
