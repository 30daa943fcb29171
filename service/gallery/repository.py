"""SQL operations on identities, faces and the change log; face writes log their events in the same transaction.

Functions take a Session and never commit: writers run inside `service.db.engine.write_session`,
which holds the gallery write lock until commit, so change-log sequence numbers commit in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import numpy as np
from sqlalchemy import ColumnElement, Row, delete, func, insert, select
from sqlalchemy.orm import Session, defer

from service.db.models import ChangeLog, Face, Identity
from service.db.names import fold
from service.errors import ErrorCode, FaceverError

T = TypeVar("T")
_IN_CHUNK = 1000  # ids per IN (...) list, well under SQLite's bound-parameter limit
_UPDATABLE = {"name", "external_id", "metadata"}


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the total number of matching rows."""

    items: list[T]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class NewFace:
    """A face to enrol, as the pipeline produced it."""

    embedding: np.ndarray
    score: float
    box: Sequence[float]
    landmarks: Sequence[Sequence[float]]
    crop_jpeg: bytes | None
    image_sha256: str


@dataclass(frozen=True)
class AddedFace:
    """Outcome of one NewFace: its row id, or the id of the face it duplicates."""

    face_id: int
    image_sha256: str
    duplicate: bool


@dataclass(frozen=True)
class Change:
    """One change-log event."""

    seq: int
    op: Literal["add", "remove"]
    face_id: int
    embedder: str
    identity_id: int | None  # None only in events logged before the column existed


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _IN_CHUNK):
        yield list(ids[start : start + _IN_CHUNK])


def _not_found(what: str, key: int) -> FaceverError:
    return FaceverError(ErrorCode.not_found, f"{what} {key} does not exist", id=key)


def _check_external_id(session: Session, external_id: str | None, identity_id: int | None = None) -> None:
    if external_id is None:
        return
    owner = session.scalar(select(Identity.id).where(Identity.external_id == external_id))
    if owner is not None and owner != identity_id:
        raise FaceverError(
            ErrorCode.conflict,
            f"external_id {external_id!r} already belongs to identity {owner}",
            external_id=external_id,
            identity_id=owner,
        )


def _log(session: Session, op: str, identity_id: int, faces: Iterable[tuple[int, str]]) -> None:
    rows = [{"op": op, "face_id": face_id, "identity_id": identity_id, "embedder": embedder}
            for face_id, embedder in faces]
    if rows:
        session.execute(insert(ChangeLog), rows)


def create_identity(
    session: Session, name: str, external_id: str | None = None, metadata: Mapping[str, Any] | None = None
) -> Identity:
    _check_external_id(session, external_id)
    identity = Identity(name=name, external_id=external_id, meta=dict(metadata or {}))
    session.add(identity)
    session.flush()
    return identity


def get_identity(session: Session, identity_id: int, for_update: bool = False) -> Identity:
    """The identity, or FaceverError(not_found); `for_update` locks its row (Postgres)."""
    statement = select(Identity).where(Identity.id == identity_id)
    identity = session.scalar(statement.with_for_update() if for_update else statement)
    if identity is None:
        raise _not_found("identity", identity_id)
    return identity


def list_identities(
    session: Session,
    offset: int = 0,
    limit: int = 50,
    name: str | None = None,
    external_id: str | None = None,
) -> Page[Identity]:
    """Identities by id; `name` matches a substring after Unicode folding (service.db.names), `external_id` exactly."""
    statement = select(Identity)
    if name is not None:
        statement = statement.where(Identity.name_folded.contains(fold(name), autoescape=True))
    if external_id is not None:
        statement = statement.where(Identity.external_id == external_id)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    items = session.scalars(statement.order_by(Identity.id).offset(offset).limit(limit)).all()
    return Page(list(items), total, offset, limit)


def update_identity(session: Session, identity_id: int, changes: Mapping[str, Any]) -> Identity:
    """Apply `changes` (any of name, external_id, metadata); absent keys stay as they are."""
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}; allowed {sorted(_UPDATABLE)}")
    identity = get_identity(session, identity_id, for_update=True)
    if "external_id" in changes:
        _check_external_id(session, changes["external_id"], identity_id)
        identity.external_id = changes["external_id"]
    if "name" in changes:
        identity.name = changes["name"]
    if "metadata" in changes:
        identity.meta = dict(changes["metadata"] or {})
    session.flush()
    return identity


def delete_identity(session: Session, identity_id: int) -> list[int]:
    """Delete the identity and (by cascade) its faces; returns the removed face ids."""
    # the row lock makes a concurrent enrolment wait, so no face escapes the change log
    identity = get_identity(session, identity_id, for_update=True)
    faces = session.execute(select(Face.id, Face.embedder).where(Face.identity_id == identity_id)).all()
    _log(session, "remove", identity_id, faces)
    session.delete(identity)
    session.flush()
    return [face_id for face_id, _ in faces]


def add_faces(session: Session, identity_id: int, embedder: str, faces: Sequence[NewFace]) -> list[AddedFace]:
    """Insert faces (one AddedFace each, in order); an image already enrolled is a duplicate."""
    get_identity(session, identity_id, for_update=True)
    shas = list({face.image_sha256 for face in faces})
    existing: dict[str, int] = {}
    for chunk in _chunks(shas):
        existing.update(
            session.execute(
                select(Face.image_sha256, Face.id).where(
                    Face.identity_id == identity_id, Face.embedder == embedder, Face.image_sha256.in_(chunk)
                )
            ).all()
        )
    rows: dict[str, Face] = {}
    for face in faces:
        if face.image_sha256 in existing or face.image_sha256 in rows:
            continue
        vector = np.asarray(face.embedding, dtype="<f4").reshape(-1)
        rows[face.image_sha256] = Face(
            identity_id=identity_id,
            embedder=embedder,
            dim=vector.size,
            embedding=vector.tobytes(),
            det_score=float(face.score),
            box=[float(v) for v in face.box],
            landmarks=[[float(x), float(y)] for x, y in face.landmarks],
            crop_jpeg=face.crop_jpeg,
            image_sha256=face.image_sha256,
        )
    session.add_all(rows.values())
    session.flush()
    _log(session, "add", identity_id, [(row.id, embedder) for row in rows.values()])
    ids = {**existing, **{sha: row.id for sha, row in rows.items()}}
    fresh, results = set(rows), []
    for face in faces:  # the first occurrence of a new image is the enrolment, repeats are duplicates
        sha = face.image_sha256
        results.append(AddedFace(ids[sha], sha, duplicate=sha not in fresh))
        fresh.discard(sha)
    return results


def list_faces(
    session: Session, identity_id: int, offset: int = 0, limit: int = 50, embedder: str | None = None
) -> Page[Face]:
    """An identity's faces by id, without the embedding and crop bytes."""
    get_identity(session, identity_id)
    statement = select(Face).where(Face.identity_id == identity_id)
    if embedder is not None:
        statement = statement.where(Face.embedder == embedder)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    items = session.scalars(
        statement.options(defer(Face.embedding, raiseload=True), defer(Face.crop_jpeg, raiseload=True))
        .order_by(Face.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return Page(list(items), total, offset, limit)


def delete_face(session: Session, face_id: int, identity_id: int | None = None) -> None:
    """Delete a face (of `identity_id` when given), or raise FaceverError(not_found) saying what is missing."""
    row = _owned_face(session, face_id, identity_id, Face.embedder, for_update=True)
    _log(session, "remove", row.identity_id, [(face_id, row.embedder)])
    session.execute(delete(Face).where(Face.id == face_id))


def _owned_face(session: Session, face_id: int, identity_id: int | None, *columns: Any,
                for_update: bool = False) -> Row[Any]:
    """The face's row (`columns` of it) when it exists and belongs to `identity_id` (if given), else not_found
    saying what is missing."""
    if identity_id is not None:
        get_identity(session, identity_id)
    statement = select(Face.identity_id, *columns).where(Face.id == face_id)
    row = session.execute(statement.with_for_update() if for_update else statement).first()
    if row is None:
        raise _not_found("face", face_id)
    if identity_id is not None and row.identity_id != identity_id:
        raise FaceverError(ErrorCode.not_found, f"face {face_id} belongs to another identity, not to identity "
                           f"{identity_id}", id=face_id, identity_id=identity_id)
    return row


def last_seq(session: Session) -> int:
    return session.scalar(select(func.max(ChangeLog.seq))) or 0


def changes_after(session: Session, seq: int) -> list[Change]:
    """Change-log events after `seq`, in order."""
    rows = session.execute(
        select(ChangeLog.seq, ChangeLog.op, ChangeLog.face_id, ChangeLog.embedder, ChangeLog.identity_id)
        .where(ChangeLog.seq > seq)
        .order_by(ChangeLog.seq)
    )
    return [Change(*row) for row in rows]


def load_embeddings(
    session: Session,
    embedder: str,
    dim: int,
    face_ids: Sequence[int] | None = None,
    identity_id: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(ids int64 (n,), vectors float32 (n, dim)) of `embedder`'s faces, optionally only some."""
    statement = select(Face.id, Face.embedding).where(Face.embedder == embedder).order_by(Face.id)
    if identity_id is not None:
        statement = statement.where(Face.identity_id == identity_id)
    if face_ids is None:
        rows = session.execute(statement).all()
    else:
        rows = [row for chunk in _chunks(face_ids) for row in session.execute(statement.where(Face.id.in_(chunk)))]
    return np.fromiter((row[0] for row in rows), np.int64, len(rows)), _vectors([row[1] for row in rows], dim)


def _vectors(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    """Stored embeddings (little-endian float32 blobs) as a float32 (n, dim) array."""
    return np.frombuffer(b"".join(map(bytes, blobs)), dtype="<f4").reshape(len(blobs), dim).astype(np.float32)


def identity_embeddings(
    session: Session, embedder: str, dim: int, identity_ids: Sequence[int] | None = None, batch: int = 10_000
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Stream (identity_id, face_id, float32 (dim,) embedding) of `embedder`'s faces, of some identities if given.

    Rows come in batches of `batch`, so a million-face gallery is never held as ORM objects at once."""
    statement = select(Face.identity_id, Face.id, Face.embedding).where(Face.embedder == embedder)
    chunks = [None] if identity_ids is None else list(_chunks(list(dict.fromkeys(identity_ids))))
    for chunk in chunks:
        query = statement if chunk is None else statement.where(Face.identity_id.in_(chunk))
        for identity_id, face_id, blob in session.execute(query.execution_options(yield_per=batch)):
            yield identity_id, face_id, np.frombuffer(bytes(blob), dtype="<f4", count=dim).astype(np.float32)


def face_counts(session: Session, identity_ids: Sequence[int], embedder: str) -> dict[int, int]:
    """Faces of `embedder` per identity of `identity_ids` (0 for one without any)."""
    counts = dict.fromkeys(identity_ids, 0)
    for chunk in _chunks(list(counts)):
        rows = session.execute(select(Face.identity_id, func.count()).where(
            Face.identity_id.in_(chunk), Face.embedder == embedder).group_by(Face.identity_id))
        counts.update((identity_id, count) for identity_id, count in rows)
    return counts


def identities_by_id(session: Session, identity_ids: Sequence[int]) -> dict[int, Identity]:
    """The identities of `identity_ids` that exist, by id."""
    found: dict[int, Identity] = {}
    for chunk in _chunks(list(dict.fromkeys(identity_ids))):
        found.update((row.id, row) for row in session.scalars(select(Identity).where(Identity.id.in_(chunk))))
    return found


def faces_to_reembed(session: Session, embedder: str, after_id: int = 0, limit: int = 256) -> list[Face]:
    """Faces of other embedders that kept their crop and have no `embedder` twin (same identity and image), by id."""
    statement = (
        select(Face)
        .where(Face.embedder != embedder, Face.crop_jpeg.is_not(None), Face.id > after_id, ~_has_twin(embedder))
        .order_by(Face.id)
        .limit(limit)
    )
    return list(session.scalars(statement))


def _has_twin(embedder: str) -> ColumnElement[bool]:
    """EXISTS: the outer Face row has an `embedder` face of the same identity and image."""
    from sqlalchemy.orm import aliased  # here, not at the top: this section of the module is append-only

    twin = aliased(Face)
    return (
        select(twin.id)
        .where(twin.identity_id == Face.identity_id, twin.image_sha256 == Face.image_sha256, twin.embedder == embedder)
        .exists()
    )


def faces_missing_from(session: Session, embedder: str) -> dict[str, int]:
    """Faces that `embedder`'s searches cannot see (other embedders', no `embedder` twin), counted per embedder."""
    statement = (
        select(Face.embedder, func.count())
        .where(Face.embedder != embedder, ~_has_twin(embedder))
        .group_by(Face.embedder)
        .order_by(Face.embedder)
    )
    return {name: count for name, count in session.execute(statement)}


def face_crop(session: Session, identity_id: int, face_id: int) -> bytes:
    """The identity's face's stored aligned crop (JPEG); not_found when the face, or its crop, is missing."""
    row = _owned_face(session, face_id, identity_id, Face.crop_jpeg)
    if row.crop_jpeg is None:
        raise FaceverError(ErrorCode.not_found, f"face {face_id} has no stored crop (enrolled with "
                           "FACEVER_STORE_CROPS off)", id=face_id, identity_id=identity_id)
    return row.crop_jpeg


def load_labelled_embeddings(session: Session, embedder: str, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(face ids int64 (n,), identity ids int64 (n,), vectors float32 (n, dim)) of all `embedder`'s faces, ordered
    by identity then face."""
    rows = session.execute(
        select(Face.id, Face.identity_id, Face.embedding).where(Face.embedder == embedder)
        .order_by(Face.identity_id, Face.id)
    ).all()
    ids = np.fromiter((row[0] for row in rows), np.int64, len(rows))
    owners = np.fromiter((row[1] for row in rows), np.int64, len(rows))
    return ids, owners, _vectors([row[2] for row in rows], dim)
