"""Database fixtures shared by the db and gallery tests: every test gets a fresh SQLite file or Postgres schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.db import migrate
from service.db.engine import make_engine, session_factory

POSTGRES_URL = os.environ.get("FACEVER_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def postgres_schema(prefix: str = "facever_test") -> Iterator[str]:
    """A URL whose default schema is a new, empty Postgres schema, dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as error:
        pytest.fail(f"Postgres not reachable at {POSTGRES_URL} (set FACEVER_TEST_DATABASE_URL): {error}")
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'facever.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def migrated_url(database_url: str) -> str:
    migrate.upgrade(database_url)
    return database_url


@pytest.fixture
def factory(migrated_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a migrated database."""
    engine = make_engine(migrated_url)
    yield session_factory(engine)
    engine.dispose()
