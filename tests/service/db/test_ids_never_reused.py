"""No id the API shows is ever handed out twice, on SQLite and Postgres, and databases made before that rule
keep every row when they are upgraded to it."""

from __future__ import annotations

from sqlalchemy import delete, text
from sqlalchemy.orm import Session, sessionmaker

from service import auth
from service.db import migrate
from service.db.engine import make_engine, session_factory, write_session
from service.db.models import ApiKey
from service.gallery import repository


def _new_identity(factory: sessionmaker[Session], name: str) -> int:
    with write_session(factory) as session:
        return repository.create_identity(session, name).id


def _delete_identity(factory: sessionmaker[Session], identity_id: int) -> None:
    with write_session(factory) as session:
        repository.delete_identity(session, identity_id)


def _new_key(factory: sessionmaker[Session]) -> int:
    with write_session(factory) as session:
        return auth.create_key(session, "k", "client")[0].id


def test_a_deleted_identity_id_is_never_reused(factory: sessionmaker[Session]) -> None:
    first = _new_identity(factory, "First")
    _delete_identity(factory, first)  # the largest id: SQLite without AUTOINCREMENT would give it again
    second = _new_identity(factory, "Second")
    assert second > first
    with factory() as session:
        assert repository.list_identities(session, name="first").total == 0


def test_a_deleted_api_key_id_is_never_reused(factory: sessionmaker[Session]) -> None:
    first = _new_key(factory)
    with write_session(factory) as session:  # keys are revoked, not deleted; an operator may still delete the row
        session.execute(delete(ApiKey).where(ApiKey.id == first))
    assert _new_key(factory) > first


def test_upgrading_a_0002_database_keeps_every_row_and_stops_reuse(database_url: str) -> None:
    migrate.upgrade(database_url, "0002")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        for name in ("A", "B", "C"):
            identity_id = connection.execute(
                text("INSERT INTO identities (name, name_folded, metadata, created_at, updated_at) "
                     "VALUES (:n, :f, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"),
                {"n": name, "f": name.lower()},
            ).scalar_one()
            connection.execute(
                text("INSERT INTO faces (identity_id, embedder, dim, embedding, det_score, box, landmarks, "
                     "image_sha256, created_at) VALUES (:i, 'e', 1, :b, 1.0, '[]', '[]', :n, CURRENT_TIMESTAMP)"),
                {"i": identity_id, "b": b"\0\0\0\0", "n": name})
        connection.execute(text("INSERT INTO api_keys (name, key_hash, prefix, role, revoked, created_at) "
                                "VALUES ('old', 'h', 'fv_', 'admin', false, CURRENT_TIMESTAMP)"))
    engine.dispose()
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    factory = session_factory(engine)
    with factory() as session:
        identities = repository.list_identities(session).items
        assert [i.name for i in identities] == ["A", "B", "C"]
        assert [repository.list_faces(session, i.id).total for i in identities] == [1, 1, 1]  # no cascade
        assert [info.name for info in auth.list_keys(session)] == ["old"]
    _delete_identity(factory, identities[-1].id)
    assert _new_identity(factory, "D") > identities[-1].id
    key = _new_key(factory)
    with write_session(factory) as session:
        session.execute(delete(ApiKey).where(ApiKey.id == key))
    assert _new_key(factory) > key
    engine.dispose()
