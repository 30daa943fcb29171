"""Consistency checks of a gallery after a fault: SQL holds nothing half-written, and a live service's index
agrees with SQL. Each check returns the problems it found, as sentences (none: consistent)."""

from __future__ import annotations

import hashlib
import re
import time
from collections import defaultdict
from dataclasses import dataclass

import httpx
import numpy as np
from sqlalchemy import Engine, func, select

from service.db.models import ChangeLog, Face, Identity
from service.gallery.templates import mean_template

SCORE_TOLERANCE = 2e-6  # the API rounds similarities to 6 decimals


@dataclass(frozen=True)
class SqlState:
    """What SQL holds: identities (id -> name, metadata) and this embedder's faces (id -> identity, image sha256)."""

    identities: dict[int, tuple[str, dict]]
    faces: dict[int, tuple[int, str]]


def read_state(engine: Engine, embedder: str) -> SqlState:
    with engine.connect() as connection:
        identities = {row.id: (row.name, row.metadata or {}) for row in connection.execute(
            select(Identity.id, Identity.name, Identity.meta.label("metadata")))}
        faces = {row.id: (row.identity_id, row.image_sha256) for row in connection.execute(
            select(Face.id, Face.identity_id, Face.image_sha256).where(Face.embedder == embedder))}
    return SqlState(identities, faces)


def sql_problems(engine: Engine, embedder: str, dim: int) -> list[str]:
    """Half-written state: a face whose vector is missing or malformed, a face the change log does not name
    (or names for another identity), an add event for a face that is gone without a later remove, events out of
    order, and on SQLite a gap in the change log's sequence or a failed integrity check."""
    problems: list[str] = []
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            verdict = connection.exec_driver_sql("PRAGMA integrity_check").scalar()
            if verdict != "ok":
                problems.append(f"SQLite integrity_check: {verdict}")
        faces = connection.execute(select(Face.id, Face.identity_id, Face.dim, Face.embedding)
                                   .where(Face.embedder == embedder)).all()
        events = connection.execute(select(ChangeLog.seq, ChangeLog.op, ChangeLog.face_id, ChangeLog.identity_id)
                                    .where(ChangeLog.embedder == embedder).order_by(ChangeLog.seq)).all()
        if engine.dialect.name == "sqlite":  # Postgres sequences skip the values of rolled-back inserts
            count, first, last = connection.execute(
                select(func.count(), func.min(ChangeLog.seq), func.max(ChangeLog.seq))).one()
            if count and last - first + 1 != count:
                problems.append(f"change log has gaps: {count} events numbered {first}..{last}")
    owners = {face_id: identity_id for face_id, identity_id, _, _ in faces}
    for face_id, _, face_dim, blob in faces:
        problems += _vector_problems(face_id, face_dim, blob, dim)
    history: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
    for _, op, face_id, identity_id in events:
        history[face_id].append((op, identity_id))
    for face_id, identity_id in owners.items():
        if history.get(face_id) != [("add", identity_id)]:
            problems.append(f"face {face_id} of identity {identity_id} has change-log events {history.get(face_id)}"
                            ", not one add for its identity")
    for face_id, ops in history.items():
        if face_id not in owners and [op for op, _ in ops] != ["add", "remove"]:
            problems.append(f"face {face_id} is gone but its change-log events are {ops}, not add then remove")
        elif face_id not in owners and ops[0][1] != ops[1][1]:
            problems.append(f"face {face_id}'s add and remove events name different identities: {ops}")
    return problems


def _vector_problems(face_id: int, face_dim: int, blob: bytes | None, dim: int) -> list[str]:
    if face_dim != dim or blob is None or len(blob) != 4 * dim:
        return [f"face {face_id} has dim {face_dim} and {len(blob or b'')} embedding bytes, not {dim} float32"]
    vector = np.frombuffer(bytes(blob), dtype="<f4")
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(vector).all() or abs(norm - 1) > 1e-3:
        return [f"face {face_id}'s embedding is not a finite unit vector (norm {norm})"]
    return []


CATCH_UP_TRIES = 10
CATCH_UP_PAUSE_S = 0.3  # longer than the default FACEVER_GALLERY_SYNC_INTERVAL, 0.5 s, over the tries


def index_counts(client: httpx.Client) -> dict[str, int]:
    """The index's faces and identities, as /metrics reports them."""
    body = client.get("/metrics").raise_for_status().text
    counts = {}
    for name in ("faces", "identities"):
        found = re.search(rf"^facever_index_{name} (\S+)$", body, re.MULTILINE)
        counts[name] = int(float(found.group(1))) if found else -1
    return counts


def index_problems(client: httpx.Client, engine: Engine, embedder: str, dim: int,
                   probes: dict[int, bytes]) -> list[str]:
    """The live service's index against SQL: its face and identity counts (/metrics, /v1/identify), and for each
    identity of `probes` (identity id -> the photo of one of its enrolled faces) /v1/identify of that photo
    lists the identity with the score of its template computed from SQL's vectors."""
    problems = []
    with engine.connect() as connection:
        rows = connection.execute(select(Face.identity_id, Face.image_sha256, Face.embedding)
                                  .where(Face.embedder == embedder)).all()
        live = set(connection.scalars(select(Identity.id)))
    vectors: dict[int, list[np.ndarray]] = defaultdict(list)
    for identity_id, _, blob in rows:
        vectors[identity_id].append(np.frombuffer(bytes(blob), dtype="<f4", count=dim))
    by_sha = {(identity_id, sha): np.frombuffer(bytes(blob), dtype="<f4", count=dim)
              for identity_id, sha, blob in rows}
    for identity_id, photo in probes.items():  # first: a search brings the index up to date with the change log
        problems += _probe_problems(client, identity_id, photo, vectors, by_sha, live)
    expected = {"faces": len(rows), "identities": len(vectors)}
    counts = index_counts(client)
    # a search skips its sync while another thread's is running: give the index its sync interval to catch up
    for _ in range(CATCH_UP_TRIES):
        if counts == expected or not probes:
            break
        time.sleep(CATCH_UP_PAUSE_S)
        _probe_problems(client, *next(iter(probes.items())), vectors, by_sha, live)
        counts = index_counts(client)
    if counts != expected:
        problems.append(f"/metrics reports {counts}, SQL holds {len(rows)} faces of {len(vectors)} identities")
    return problems


def _probe_problems(client: httpx.Client, identity_id: int, photo: bytes, vectors: dict[int, list[np.ndarray]],
                    by_sha: dict[tuple[int, str], np.ndarray], live: set[int]) -> list[str]:
    response = client.post("/v1/identify", files={"image": ("probe.jpg", photo, "image/jpeg")},
                           data={"top_k": "5"})
    if response.status_code != 200:
        return [f"/v1/identify of identity {identity_id}'s photo answered {response.status_code}: {response.text}"]
    body = response.json()
    problems = []
    if body["identities"] != len(vectors):
        problems.append(f"/v1/identify counts {body['identities']} identities, SQL {len(vectors)}")
    probe = by_sha.get((identity_id, hashlib.sha256(photo).hexdigest()))
    if probe is None:
        return [*problems, f"identity {identity_id}'s probe photo is not among its faces in SQL"]
    scores = {c["identity"]["id"]: c["similarity"] for c in body["candidates"]}
    for candidate, score in scores.items():
        if candidate not in live or candidate not in vectors:
            problems.append(f"/v1/identify returned identity {candidate}, which SQL does not hold with faces")
            continue
        expected = float(mean_template(np.stack(vectors[candidate])) @ probe)
        if abs(score - expected) > SCORE_TOLERANCE:
            problems.append(f"identity {candidate} scored {score}, its template from SQL gives {expected:.6f}")
    if identity_id not in scores:
        problems.append(f"/v1/identify of identity {identity_id}'s own photo did not list it: {sorted(scores)}")
    return problems
