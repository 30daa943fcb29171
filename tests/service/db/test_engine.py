"""Engine set-up per backend and the write transaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from service.db.engine import make_engine, normalize_url, write_session
from service.gallery import repository


def test_sqlite_engine_creates_its_folder_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "folder" / "facever.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    assert path.is_file()


def test_plain_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


def test_write_session_rolls_back_on_error(factory: sessionmaker[Session]) -> None:
    with pytest.raises(RuntimeError), write_session(factory) as session:
        repository.create_identity(session, "never stored")
        raise RuntimeError("boom")
    with factory() as session:
        assert repository.list_identities(session).total == 0


def test_sqlite_foreign_keys_cascade(factory: sessionmaker[Session]) -> None:
    """Deleting an identity deletes its faces on both backends (SQLite needs the pragma)."""
    with factory() as session:
        session.execute(
            text(
                "INSERT INTO identities (name, name_folded, metadata, created_at, updated_at) "
                "VALUES ('x', 'x', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        identity_id = session.execute(text("SELECT id FROM identities")).scalar_one()
        session.execute(
            text(
                "INSERT INTO faces (identity_id, embedder, dim, embedding, det_score, box, landmarks, "
                "image_sha256, created_at) VALUES (:i, 'e', 1, :b, 1.0, '[]', '[]', 'h', CURRENT_TIMESTAMP)"
            ),
            {"i": identity_id, "b": b"\0\0\0\0"},
        )
        session.execute(text("DELETE FROM identities"))
        assert session.execute(text("SELECT count(*) FROM faces")).scalar_one() == 0
