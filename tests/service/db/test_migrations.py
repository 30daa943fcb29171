"""Migrations on SQLite and Postgres: upgrade from empty, round trip, model parity, start-up policy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from service.config import REPO_ROOT, Settings
from service.db import migrate
from service.db.engine import make_engine, session_factory, write_session
from service.db.models import Base
from service.errors import ErrorCode, FaceverError
from service.gallery import repository
from service.gallery.gallery import Gallery

TABLES = {"identities", "faces", "api_keys", "change_log"}


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _up_to_date(url: str) -> bool:
    engine = make_engine(url)
    try:
        return migrate.is_up_to_date(engine)
    finally:
        engine.dispose()


def test_upgrade_from_empty_creates_every_table(database_url: str) -> None:
    assert _tables(database_url) == set()
    assert not _up_to_date(database_url)
    migrate.upgrade(database_url)
    assert _tables(database_url) == TABLES
    assert _up_to_date(database_url)


def test_downgrade_to_base_and_upgrade_again(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    with write_session(session_factory(engine)) as session:
        repository.create_identity(session, "before downgrade")
    engine.dispose()
    migrate.downgrade(migrated_url, "base")
    assert _tables(migrated_url) == set()
    assert not _up_to_date(migrated_url)
    migrate.upgrade(migrated_url)
    assert _tables(migrated_url) == TABLES
    engine = make_engine(migrated_url)
    with session_factory(engine)() as session:
        assert repository.list_identities(session).total == 0
    engine.dispose()


def test_migration_matches_the_models(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def _insert_at_0001(url: str, names: list[str]) -> None:
    """Identities with one face each, written as a database at revision 0001 holds them."""
    engine = make_engine(url)
    with engine.begin() as connection:
        for name in names:
            identity_id = connection.execute(
                text("INSERT INTO identities (name, metadata, created_at, updated_at) "
                     "VALUES (:n, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"), {"n": name}).scalar_one()
            connection.execute(
                text("INSERT INTO faces (identity_id, embedder, dim, embedding, det_score, box, landmarks, "
                     "image_sha256, created_at) VALUES (:i, 'e', 1, :b, 1.0, '[]', '[]', :n, CURRENT_TIMESTAMP)"),
                {"i": identity_id, "b": b"\0\0\0\0", "n": name})
    engine.dispose()


def _count(url: str, table: str) -> int:
    engine = make_engine(url)
    with engine.connect() as connection:
        count = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return count


def test_0002_folds_the_names_already_stored_and_keeps_every_face(database_url: str) -> None:
    migrate.upgrade(database_url, "0001")
    _insert_at_0001(database_url, ["Jürgen Groß", "Ada Lovelace"])
    migrate.upgrade(database_url, "0002")
    assert _count(database_url, "faces") == 2  # rebuilding identities on SQLite must not cascade to faces
    engine = make_engine(database_url)
    with session_factory(engine)() as session:
        assert [i.name for i in repository.list_identities(session, name="GROSS").items] == ["Jürgen Groß"]
        assert repository.list_identities(session, name="LOVELACE").total == 1
    engine.dispose()


def test_migrations_run_from_any_directory(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    migrate.upgrade(database_url)
    assert _up_to_date(database_url)


def test_ensure_migrated_default_policy(database_url: str) -> None:
    """SQLite (embedded) migrates itself; any other database must be migrated by the operator."""
    settings = Settings(database_url=database_url)
    if database_url.startswith("sqlite"):
        migrate.ensure_migrated(settings)
        assert _up_to_date(database_url)
        return
    with pytest.raises(FaceverError) as raised:
        migrate.ensure_migrated(settings)
    assert raised.value.code is ErrorCode.database_not_migrated
    assert raised.value.code.status == 503
    assert "facever db upgrade" in raised.value.message
    migrate.upgrade(database_url)
    migrate.ensure_migrated(settings)  # at head now: starts


def test_ensure_migrated_override(database_url: str) -> None:
    with pytest.raises(FaceverError):
        migrate.ensure_migrated(Settings(database_url=database_url, database_auto_migrate=False))
    migrate.ensure_migrated(Settings(database_url=database_url, database_auto_migrate=True))
    assert _up_to_date(database_url)


def test_workers_starting_at_once_migrate_one_after_another(database_url: str) -> None:
    """Processes (Alembic's context is per process) all upgrading a fresh database at once."""
    code = "import sys; from service.db import migrate; migrate.upgrade(sys.argv[1])"
    workers = [
        subprocess.Popen([sys.executable, "-c", code, database_url], cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [worker.communicate(timeout=120)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0], errors
    assert _up_to_date(database_url)


def test_0004_names_the_identity_of_every_event_it_can_and_a_worker_rebuilds_past_the_rest(database_url: str) -> None:
    migrate.upgrade(database_url, "0001")
    _insert_at_0001(database_url, ["Kept Face", "Gone Face"])
    migrate.upgrade(database_url, "0003")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        kept, gone = connection.execute(text("SELECT id, identity_id FROM faces ORDER BY id")).all()
        # events as a 0003 database logged them: both adds, then the second face's remove (its row deleted)
        for op, face_id in (("add", kept.id), ("add", gone.id), ("remove", gone.id)):
            connection.execute(text("INSERT INTO change_log (op, face_id, embedder, created_at) "
                                    "VALUES (:op, :f, 'e', CURRENT_TIMESTAMP)"), {"op": op, "f": face_id})
        connection.execute(text("DELETE FROM faces WHERE id = :f"), {"f": gone.id})
    migrate.upgrade(database_url, "head")
    with engine.connect() as connection:
        named = connection.execute(text("SELECT op, face_id, identity_id FROM change_log ORDER BY seq")).all()
    assert [tuple(row) for row in named] == [("add", kept.id, kept.identity_id), ("add", gone.id, None),
                                            ("remove", gone.id, None)]
    # a worker that has to replay an event without its identity builds its templates from SQL instead
    worker = Gallery(session_factory(engine), "e", 1)
    assert worker.sync() == 3 and worker.identities == 1 and worker.last_seq == 3
    (found,) = worker.search(np.ones(1, np.float32), top_k=5)
    assert (found.identity_id, found.faces) == (kept.identity_id, 1)
    engine.dispose()
