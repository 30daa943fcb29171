"""Repository CRUD, pagination, filters, duplicates and change-log rows, on SQLite and Postgres."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service.db.engine import write_session
from service.errors import ErrorCode, FaceverError
from service.gallery import repository
from tests.service.gallery.vectors import new_face, unit

DIM = 8


def _identity(factory: sessionmaker[Session], name: str, external_id: str | None = None) -> int:
    with write_session(factory) as session:
        return repository.create_identity(session, name, external_id, {"team": "x"}).id


def _faces(count: int, seed: int = 0) -> list:
    return [new_face(vector) for vector in unit(np.random.default_rng(seed).normal(size=(count, DIM)))]


def test_identity_crud(factory: sessionmaker[Session]) -> None:
    identity_id = _identity(factory, "Ada Lovelace", "emp-1")
    with factory() as session:
        identity = repository.get_identity(session, identity_id)
    assert (identity.name, identity.external_id, identity.meta) == ("Ada Lovelace", "emp-1", {"team": "x"})
    assert identity.created_at is not None and identity.updated_at is not None
    with write_session(factory) as session:
        updated = repository.update_identity(session, identity_id, {"name": "Ada", "metadata": {"a": 1}})
    assert (updated.name, updated.external_id, updated.meta) == ("Ada", "emp-1", {"a": 1})
    with write_session(factory) as session:
        repository.update_identity(session, identity_id, {"external_id": None})
    with factory() as session:
        assert repository.get_identity(session, identity_id).external_id is None
    with write_session(factory) as session:
        assert repository.delete_identity(session, identity_id) == []
    with factory() as session, pytest.raises(FaceverError) as raised:
        repository.get_identity(session, identity_id)
    assert raised.value.code is ErrorCode.not_found and raised.value.code.status == 404


def test_external_id_is_unique(factory: sessionmaker[Session]) -> None:
    first = _identity(factory, "A", "same")
    second = _identity(factory, "B", "other")
    for attempt in (
        lambda s: repository.create_identity(s, "C", "same"),
        lambda s: repository.update_identity(s, second, {"external_id": "same"}),
    ):
        with pytest.raises(FaceverError) as raised, write_session(factory) as session:
            attempt(session)
        assert raised.value.code is ErrorCode.conflict and raised.value.details["identity_id"] == first
    with write_session(factory) as session:  # keeping its own external_id is no conflict
        repository.update_identity(session, first, {"external_id": "same", "name": "A2"})
    with pytest.raises(ValueError), write_session(factory) as session:
        repository.update_identity(session, first, {"id": 5})


def test_list_identities_pages_and_filters(factory: sessionmaker[Session]) -> None:
    names = ["Alice Smith", "alicia", "Bob", "Carol", "ALICE Jones", "Dan", "100%_real"]
    ids = [_identity(factory, name, f"ext-{i}") for i, name in enumerate(names)]
    with factory() as session:
        pages = [repository.list_identities(session, offset, 3) for offset in (0, 3, 6, 9)]
        assert [len(page.items) for page in pages] == [3, 3, 1, 0]
        assert all(page.total == 7 for page in pages)
        assert [i.id for page in pages for i in page.items] == ids
        alice = repository.list_identities(session, name="alice")
        assert [i.name for i in alice.items] == ["Alice Smith", "ALICE Jones"] and alice.total == 2
        assert repository.list_identities(session, name="0%_").total == 1  # wildcards are literal
        assert repository.list_identities(session, name="%").total == 1
        by_external = repository.list_identities(session, external_id="ext-3")
        assert [i.name for i in by_external.items] == ["Carol"]
        assert repository.list_identities(session, name="alice", external_id="ext-3").total == 0


def test_add_faces_detects_duplicates_and_logs_adds(factory: sessionmaker[Session]) -> None:
    identity_id = _identity(factory, "A")
    other_id = _identity(factory, "B")
    faces = _faces(3)
    with write_session(factory) as session:
        added = repository.add_faces(session, identity_id, "model-a", [*faces, faces[0]])
    assert [a.duplicate for a in added] == [False, False, False, True]
    assert added[3].face_id == added[0].face_id
    with write_session(factory) as session:
        again = repository.add_faces(session, identity_id, "model-a", [faces[1]])
        # the same image for another identity, or from another embedder, is no duplicate
        elsewhere = repository.add_faces(session, other_id, "model-a", [faces[1]])
        other_model = repository.add_faces(session, identity_id, "model-b", [faces[1]])
    assert again[0].duplicate and again[0].face_id == added[1].face_id
    assert not elsewhere[0].duplicate and not other_model[0].duplicate
    with factory() as session:
        changes = repository.changes_after(session, 0)
        assert [(c.op, c.face_id, c.embedder) for c in changes] == [
            ("add", added[0].face_id, "model-a"),
            ("add", added[1].face_id, "model-a"),
            ("add", added[2].face_id, "model-a"),
            ("add", elsewhere[0].face_id, "model-a"),
            ("add", other_model[0].face_id, "model-b"),
        ]
        assert [c.seq for c in changes] == sorted(c.seq for c in changes)
        assert repository.last_seq(session) == changes[-1].seq
        assert repository.changes_after(session, changes[1].seq) == changes[2:]
        ids, vectors = repository.load_embeddings(session, "model-a", DIM, identity_id=identity_id)
    np.testing.assert_array_equal(ids, [a.face_id for a in added[:3]])
    np.testing.assert_array_equal(vectors, np.stack([f.embedding for f in faces]))


def test_list_and_delete_faces(factory: sessionmaker[Session]) -> None:
    identity_id = _identity(factory, "A")
    with write_session(factory) as session:
        face_ids = [a.face_id for a in repository.add_faces(session, identity_id, "m", _faces(5))]
    with factory() as session:
        page = repository.list_faces(session, identity_id, offset=3, limit=3)
    assert [f.id for f in page.items] == face_ids[3:] and page.total == 5
    face = page.items[0]
    assert face.embedder == "m" and face.dim == DIM and face.landmarks[0] == [30.0, 50.0]
    with pytest.raises(SQLAlchemyError):
        face.crop_jpeg  # noqa: B018 - listing does not load the crop bytes
    with write_session(factory) as session:
        repository.delete_face(session, face_ids[0], identity_id)
    for face_id, owner in ((face_ids[0], identity_id), (face_ids[1], identity_id + 1), (999_999, None)):
        with pytest.raises(FaceverError) as raised, write_session(factory) as session:
            repository.delete_face(session, face_id, owner)
        assert raised.value.code is ErrorCode.not_found
    with write_session(factory) as session:
        removed = repository.delete_identity(session, identity_id)
    assert sorted(removed) == face_ids[1:]
    with factory() as session:
        changes = repository.changes_after(session, 0)
        assert [c.op for c in changes] == ["add"] * 5 + ["remove"] * 5
        assert sorted(c.face_id for c in changes[5:]) == face_ids
        assert repository.load_embeddings(session, "m", DIM)[0].size == 0  # cascade removed the rows
        with pytest.raises(FaceverError):
            repository.list_faces(session, identity_id)


def test_adding_faces_to_a_missing_identity_fails(factory: sessionmaker[Session]) -> None:
    with pytest.raises(FaceverError) as raised, write_session(factory) as session:
        repository.add_faces(session, 12345, "m", _faces(1))
    assert raised.value.code is ErrorCode.not_found
    with factory() as session:
        assert repository.last_seq(session) == 0


def test_identity_embeddings_skip_deleted_faces(factory: sessionmaker[Session]) -> None:
    identity_id = _identity(factory, "Owner")
    with write_session(factory) as session:
        face_ids = [a.face_id for a in repository.add_faces(session, identity_id, "m", _faces(2))]
        repository.delete_face(session, face_ids[1])
    with factory() as session:
        rows = list(repository.identity_embeddings(session, "m", DIM, [identity_id]))
    assert [(owner, face_id) for owner, face_id, _ in rows] == [(identity_id, face_ids[0])]
