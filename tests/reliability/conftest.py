"""Reliability fixtures: the service fixtures (the repository's models folder with the detector and the shipped
default embedder), and fresh SQLite and Postgres databases."""

from tests.service.conftest import service_settings  # noqa: F401
from tests.service.db.databases import database_url, factory, migrated_url, postgres_url  # noqa: F401
