"""API keys: generation, hashed storage, lookup, revocation, and the first-start bootstrap."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.db.engine import write_session
from service.db.models import ApiKey
from service.errors import ErrorCode, FaceverError
from service.key_rules import ROLES, parse_key_list

log = logging.getLogger("facever.auth")

_KEY_PREFIX = "fv_"
_SHOWN_CHARS = 8  # of the key, kept in clear so people can tell their keys apart


@dataclass(frozen=True)
class KeyInfo:
    """An API key as listed (never the key itself)."""

    id: int
    name: str
    prefix: str
    role: str
    revoked: bool
    created_at: datetime

    @classmethod
    def of(cls, row: ApiKey) -> KeyInfo:
        return cls(row.id, row.name, row.prefix, row.role, row.revoked, row.created_at)


def hash_key(key: str) -> str:
    # keys are long random strings, so a plain sha256 is enough (no password stretching needed)
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return _KEY_PREFIX + secrets.token_urlsafe(32)


def create_key(session: Session, name: str, role: str, key: str | None = None) -> tuple[KeyInfo, str]:
    """Store a key (a new random one unless `key` is given); returns its info and the clear key."""
    if role not in ROLES:
        raise FaceverError(ErrorCode.validation_error, f"role must be one of {ROLES}, not {role!r}", role=role)
    key = key or new_key()
    row = ApiKey(name=name, key_hash=hash_key(key), prefix=key[:_SHOWN_CHARS], role=role, revoked=False)
    session.add(row)
    session.flush()
    return KeyInfo.of(row), key


def list_keys(session: Session) -> list[KeyInfo]:
    return [KeyInfo.of(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.id))]


def revoke_key(session: Session, key_id: int, keep_an_admin: bool = False) -> KeyInfo:
    """Revoke a key; with `keep_an_admin`, refuse (conflict) to revoke the last unrevoked admin key."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise FaceverError(ErrorCode.not_found, f"API key {key_id} does not exist", id=key_id)
    if keep_an_admin and row.role == "admin" and not row.revoked and _active_admins(session) == 1:
        raise FaceverError(ErrorCode.conflict, f"API key {key_id} is the last admin key; create another admin key "
                           "before revoking it", id=key_id)
    row.revoked = True
    session.flush()
    return KeyInfo.of(row)


def _active_admins(session: Session) -> int:
    return session.scalar(select(func.count()).where(ApiKey.role == "admin", ApiKey.revoked.is_(False))) or 0


def role_of(session: Session, key: str) -> str | None:
    """The role of a valid, unrevoked key; None otherwise."""
    row = session.execute(select(ApiKey.role, ApiKey.revoked).where(ApiKey.key_hash == hash_key(key))).first()
    return None if row is None or row.revoked else row.role


def bootstrap_keys(factory: sessionmaker[Session], settings: Settings) -> None:
    """Register FACEVER_API_KEYS; else give an embedded (SQLite) gallery without keys one admin key.

    The generated key is logged once, at WARNING so it shows with default logging; only its hash is kept.
    """
    if not settings.auth:
        return
    configured = parse_key_list(settings.api_keys)
    embedded = make_url(settings.database_url).get_backend_name() == "sqlite"
    with write_session(factory) as session:  # the write lock makes concurrent workers bootstrap once
        if configured:
            known = set(session.scalars(select(ApiKey.key_hash)))
            for role, key in configured:
                if hash_key(key) not in known:
                    create_key(session, f"FACEVER_API_KEYS {role}", role, key)
            return
        if session.scalar(select(func.count()).select_from(ApiKey)):
            return
        if not embedded:
            log.warning("no API key exists: every request will get 401; run `facever keys create --role admin`")
            return
        _, key = create_key(session, "bootstrap admin", "admin")
    log.warning("created the first admin API key (shown only this once): %s", key)
