"""Fixtures for the gallery tests: fresh SQLite and Postgres databases."""

from tests.service.db.databases import database_url, factory, migrated_url, postgres_url  # noqa: F401
