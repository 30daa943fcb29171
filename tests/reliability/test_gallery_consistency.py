"""The crash and outage checks find what they look for: half-written SQL, and acknowledged writes that are lost,
undone or never sent. (Without this, a check that finds nothing would pass every run.)"""

from __future__ import annotations

import random

import numpy as np
import pytest
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.crash_safety import IdentityRecord, Ledger, Person
from benchmarks.gallery_consistency import read_state, sql_problems
from service.db.engine import write_session
from service.db.models import ChangeLog, Face
from service.gallery import repository
from tests.service.gallery.vectors import new_face, unit

EMBEDDER, DIM = "test-embedder", 8


@pytest.fixture
def gallery(factory: sessionmaker[Session]) -> tuple[Engine, list[int]]:
    """Two identities of two faces each, written as the service writes them; their face ids."""
    rng = np.random.default_rng(0)
    face_ids = []
    with write_session(factory) as session:
        for name in ("Ada", "Grace"):
            identity = repository.create_identity(session, name)
            faces = [new_face(vector) for vector in unit(rng.normal(size=(2, DIM)))]
            face_ids += [added.face_id for added in repository.add_faces(session, identity.id, EMBEDDER, faces)]
        repository.delete_face(session, face_ids.pop())
    return factory.kw["bind"], face_ids


def _alter(engine: Engine, statement) -> None:
    with engine.begin() as connection:
        connection.execute(statement)


def test_a_consistent_gallery_has_no_problems(gallery) -> None:
    engine, _ = gallery
    assert sql_problems(engine, EMBEDDER, DIM) == []


@pytest.mark.parametrize("damage", ["face_without_add_event", "add_event_without_face", "short_vector",
                                    "vector_not_unit", "event_names_another_identity"])
def test_half_written_state_is_found(gallery, damage: str) -> None:
    engine, face_ids = gallery
    face = face_ids[0]
    statements = {
        "face_without_add_event": delete(ChangeLog).where(ChangeLog.face_id == face),
        "add_event_without_face": delete(Face).where(Face.id == face),
        "short_vector": update(Face).where(Face.id == face).values(embedding=b"\0" * 8),
        "vector_not_unit": update(Face).where(Face.id == face).values(embedding=np.zeros(DIM, "<f4").tobytes()),
        "event_names_another_identity": update(ChangeLog).where(ChangeLog.face_id == face).values(identity_id=-1),
    }
    _alter(engine, statements[damage])
    problems = sql_problems(engine, EMBEDDER, DIM)
    assert problems and all(f"face {face}" in problem for problem in problems)


def _ledger(engine: Engine) -> tuple[Ledger, dict[int, IdentityRecord]]:
    """A ledger that holds what SQL holds, as acknowledged."""
    ledger, state = Ledger([]), read_state(engine, EMBEDDER)
    for identity_id, (name, _) in state.identities.items():
        faces = {face_id: sha for face_id, (owner, sha) in state.faces.items() if owner == identity_id}
        ledger.identities[identity_id] = IdentityRecord(Person(name, []), name, faces=faces)
    return ledger, ledger.identities


def test_the_ledger_agrees_with_sql_it_was_built_from(gallery) -> None:
    engine, _ = gallery
    ledger, _ = _ledger(engine)
    ledger.reconcile(read_state(engine, EMBEDDER))
    assert ledger.tally.problems == []


@pytest.mark.parametrize("fault", ["acknowledged_face_lost", "acknowledged_delete_undone", "never_sent",
                                   "acknowledged_edit_lost"])
def test_lost_undone_and_unsent_writes_are_found(gallery, fault: str) -> None:
    engine, face_ids = gallery
    ledger, records = _ledger(engine)
    first, second = sorted(records)
    if fault == "acknowledged_face_lost":
        _alter(engine, delete(Face).where(Face.id == face_ids[0]))
    elif fault == "acknowledged_delete_undone":
        records[first].face_deletes[face_ids[0]] = "acked"
    elif fault == "never_sent":
        del records[second]
    else:
        records[first].name = "Ada Lovelace"
    ledger.reconcile(read_state(engine, EMBEDDER))
    assert len(ledger.tally.problems) >= 1


def test_a_write_cut_off_by_the_kill_may_have_happened(gallery) -> None:
    engine, face_ids = gallery
    ledger, records = _ledger(engine)
    first = min(records)
    with engine.connect() as connection:
        sha = connection.scalar(select(Face.image_sha256).where(Face.id == face_ids[0]))
    del records[first].faces[face_ids[0]]
    ledger.unanswered_enrols.add((first, sha))  # sent, no answer: SQL may hold it
    records[first].pending.append("Ada")
    records[first].name = "Ada before the edit"
    ledger.reconcile(read_state(engine, EMBEDDER))
    assert ledger.tally.problems == []
    assert ledger.tally.cut_off_applied["enrol"] == 1 and ledger.tally.cut_off_applied["edit"] == 1
    assert ledger.probes(read_state(engine, EMBEDDER), 5, random.Random(0)) == {}  # no photo was sent


def test_a_face_delete_cut_off_by_the_kill_is_settled_once(gallery) -> None:
    engine, face_ids = gallery
    ledger, records = _ledger(engine)
    owner = min(records)
    records[owner].face_deletes[face_ids[0]] = "maybe"  # sent, no answer, and in fact done:
    _alter(engine, delete(Face).where(Face.id == face_ids[0]))
    for _ in range(2):  # later restarts must not count the deleted face as lost
        ledger.reconcile(read_state(engine, EMBEDDER))
    assert ledger.tally.problems == [] and ledger.tally.cut_off_applied["delete_face"] == 1
