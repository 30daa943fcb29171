"""SQLAlchemy 2 models of the gallery: identities, faces, API keys and the change log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from service.db.names import fold

# Named constraints, so migrations can refer to (and drop) them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit ids (FAISS labels are int64); SQLite only auto-increments a plain INTEGER primary key.
# Every id the API shows is never reused: Postgres sequences never go back, SQLite needs AUTOINCREMENT
# (without it a new row takes the largest id + 1, the id of the row deleted last).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Identity(Base):
    """A person in the gallery."""

    __tablename__ = "identities"
    # never reuse a deleted id: a client holding it would reach another person
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    # what name searches compare (service.db.names.fold): no database folds case beyond ASCII the same way
    name_folded: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # `metadata` is reserved on declarative classes, hence the attribute name
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    @validates("name")
    def _fold_name(self, _key: str, name: str) -> str:
        """Keep name_folded in step with every name written, on create and on update."""
        self.name_folded = fold(name)
        return name


class Face(Base):
    """One enrolled face of an identity, embedded by one embedder."""

    __tablename__ = "faces"
    # never reuse a deleted id: the change log and every worker's index refer to faces by id
    __table_args__ = (
        UniqueConstraint("identity_id", "image_sha256", "embedder", name="uq_faces_identity_image_embedder"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    identity_id: Mapped[int] = mapped_column(BigId, ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    embedder: Mapped[str] = mapped_column(String(128), index=True)
    dim: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[bytes] = mapped_column(LargeBinary, doc="little-endian float32, `dim` values")
    det_score: Mapped[float] = mapped_column(Float)
    box: Mapped[list[float]] = mapped_column(JSON, doc="[x1, y1, x2, y2] in image pixels")
    landmarks: Mapped[list[list[float]]] = mapped_column(JSON, doc="five (x, y) points")
    crop_jpeg: Mapped[bytes | None] = mapped_column(LargeBinary, doc="aligned crop, for re-embedding")
    image_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An API key; only its sha256 is stored, the prefix is for display."""

    __tablename__ = "api_keys"
    # never reuse an id: `keys revoke ID` must not reach a newer key
    __table_args__ = (CheckConstraint("role IN ('admin', 'client')", name="role"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ChangeLog(Base):
    """Ordered add/remove events on faces that every worker replays to keep its index equal to SQL."""

    __tablename__ = "change_log"
    __table_args__ = (
        CheckConstraint("op IN ('add', 'remove')", name="op"),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True)
    op: Mapped[str] = mapped_column(String(8))
    face_id: Mapped[int] = mapped_column(BigInteger)  # no FK: the face is gone after a remove
    # whose template the event changes; NULL only in events logged before this column existed
    identity_id: Mapped[int | None] = mapped_column(BigInteger)
    embedder: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
