"""Engines and sessions for SQLite and Postgres, and the write transaction every gallery change uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.orm import Session, sessionmaker

_WRITE_OPTION = "facever_write"
WRITE_OPTIONS = {_WRITE_OPTION: True}  # execution options of a connection that will write
_PG_LOCK_KEY = 0x66616365766572  # "facever": one advisory lock serialises gallery writes
_SQLITE_BUSY_SECONDS = 30
# a Postgres host that stops answering (rather than refusing) fails a request after this, not after TCP's minutes
_PG_CONNECT_TIMEOUT_S = 5


def normalize_url(url: str | URL) -> URL:
    """Parse `url`; plain postgres URLs get the psycopg 3 driver (SQLAlchemy would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL) -> Engine:
    """An engine for `url`; SQLite gets foreign keys, WAL and real BEGINs, its folder is created."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        # a URL's own connect_timeout (a libpq parameter) wins over ours
        timeout = {} if "connect_timeout" in parsed.query else {"connect_timeout": _PG_CONNECT_TIMEOUT_S}
        return create_engine(parsed, pool_pre_ping=True, connect_args=timeout)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": _SQLITE_BUSY_SECONDS})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (see _sqlite_begin): pysqlite's own BEGIN skips SELECTs
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # a write transaction takes the file's write lock up front, so it waits (busy timeout)
    # instead of failing when it upgrades from reading to writing
    immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose loaded objects stay readable after commit (they are handed to the API layer)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def write_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session holding the gallery write lock for its whole transaction; commits on success.

    Holding one lock until commit makes change-log sequence numbers commit in order, so a worker
    that has seen seq N can never later find a smaller seq appear (no gaps to miss).
    """
    with factory() as session:
        lock_writes(session.connection(execution_options=WRITE_OPTIONS))
        yield session
        session.commit()


def lock_writes(connection: Connection) -> None:
    """Wait for the write lock, held until the transaction ends (migrations take it too).

    SQLite: a connection with WRITE_OPTIONS began its transaction IMMEDIATE, which is the lock.
    Postgres: a transaction-scoped advisory lock.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
