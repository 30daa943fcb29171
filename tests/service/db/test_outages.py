"""Which database errors are outages (503 database_unavailable), and their reason, on real driver errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from benchmarks.service_latency import free_port
from service.db.engine import make_engine
from service.db.outages import UNAVAILABLE, outage_message, outage_reason


def _raised(url: str, statement: str) -> Exception:
    """The error that running `statement` on `url` raises."""
    engine = make_engine(url) if url.startswith("postgresql") else create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    except Exception as error:  # noqa: BLE001 - which kind it is, is what the tests look at
        return error
    finally:
        engine.dispose()
    pytest.fail(f"{statement} on {url} raised nothing")


def test_a_write_to_a_read_only_sqlite_file_is_an_outage(tmp_path: Path) -> None:
    database = tmp_path / "facever.db"
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    error = _raised(f"sqlite:///file:{database}?mode=ro&uri=true", "INSERT INTO t VALUES (1)")
    assert isinstance(error, UNAVAILABLE) and outage_reason(error) == "read_only"
    assert outage_message("read_only").startswith("the database is read-only")


def test_a_postgres_server_that_refuses_connections_is_unreachable() -> None:
    error = _raised(f"postgresql://postgres@127.0.0.1:{free_port()}/facever", "SELECT 1")
    assert isinstance(error, UNAVAILABLE) and outage_reason(error) == "unreachable"


def test_a_constraint_violation_is_not_an_outage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'facever.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER UNIQUE)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
    engine.dispose()
    error = _raised(url, "INSERT INTO t VALUES (1)")
    assert isinstance(error, IntegrityError) and not isinstance(error, UNAVAILABLE)
