"""API test fixtures: a fresh gallery database per test module on SQLite and on Postgres, and clients."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from service.app import create_app
from service.config import Settings
from service.db import migrate
from tests.service.db.databases import POSTGRES_URL

ADMIN_KEY = "admin-key-for-tests"
CLIENT_KEY = "client-key-for-tests"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL on a new, empty Postgres schema, dropped afterwards (a module-scoped postgres_url)."""
    schema = f"facever_api_{uuid.uuid4().hex[:12]}"
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


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database for the module; Postgres is migrated up front as `facever db upgrade` would."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('api-db') / 'facever.db'}"
        return
    with postgres_schema() as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="module")
def gallery_settings(service_settings: Settings, database_url: str) -> Settings:
    """Auth on with one admin and one client key; searches always see the latest change log."""
    return service_settings.model_copy(update={
        "database_url": database_url,
        "api_keys": f"admin:{ADMIN_KEY},client:{CLIENT_KEY}",
        "gallery_sync_interval": 0.0,
    })


@pytest.fixture(scope="module")
def admin(gallery_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(gallery_settings), headers={"X-API-Key": ADMIN_KEY}) as client:
        yield client


@pytest.fixture(scope="module")
def client_role(admin: TestClient) -> TestClient:
    """The same app, called with the client key."""
    return TestClient(admin.app, headers={"X-API-Key": CLIENT_KEY})
