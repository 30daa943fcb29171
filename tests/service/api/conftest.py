"""API test fixtures: a fresh gallery database per test module on SQLite and on Postgres, and clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.db import migrate
from tests.service.db.databases import postgres_schema

ADMIN_KEY = "admin-key-for-tests"
CLIENT_KEY = "client-key-for-tests"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database for the module; Postgres is migrated up front as `facever db upgrade` would."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('api-db') / 'facever.db'}"
        return
    with postgres_schema("facever_api") as url:
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
