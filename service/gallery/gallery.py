"""The gallery: enrol, remove and search faces, keeping this worker's FAISS index equal to SQL.

SQL is the source of truth. Every write commits to SQL first (with its change-log events in the
same transaction), then this worker applies the change log to its index before returning, so its
own writes are visible at once. Other workers' writes arrive through `sync()`, which `search()`
runs when the last sync is older than `sync_interval` seconds. Face ids are never reused, so
replaying events is idempotent: start-up calls `rebuild()`, but replaying the whole log from an
empty index gives the same state.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.db.engine import write_session
from service.gallery import repository
from service.gallery.index import FaceIndex, IndexSettings
from service.gallery.repository import AddedFace, NewFace

_OVERFETCH = 4  # faces fetched per wanted identity; widened while identities repeat


@dataclass(frozen=True)
class Candidate:
    """An identity found by a search, with its best-matching face."""

    identity_id: int
    name: str
    face_id: int
    similarity: float


class Gallery:
    """Identity search for one embedder over SQL rows, through an in-memory FAISS index."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        embedder_name: str,
        dim: int,
        index_settings: IndexSettings | None = None,
        sync_interval: float = 0.5,
    ) -> None:
        self.session_factory = session_factory
        self.embedder, self.dim = embedder_name, dim
        self.index_settings = index_settings or IndexSettings()
        self.sync_interval = sync_interval
        # _sync_lock orders syncs and rebuild swaps (held across SQL reads);
        # _index_lock guards the FAISS index against concurrent search and mutation (held briefly)
        self._sync_lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._index = self._build(np.empty(0, np.int64), np.empty((0, dim), np.float32))
        self._last_seq = 0
        self._last_sync = -math.inf

    @classmethod
    def from_settings(cls, session_factory: sessionmaker[Session], settings: Settings, dim: int) -> Gallery:
        return cls(
            session_factory,
            settings.embedder,
            dim,
            IndexSettings.from_settings(settings),
            settings.gallery_sync_interval,
        )

    def _build(self, ids: np.ndarray, vectors: np.ndarray, build_threads: int = 0) -> FaceIndex:
        settings = self.index_settings
        return FaceIndex.build(self.dim, settings.kind, settings.params, ids, vectors, settings.threads, build_threads)

    def __len__(self) -> int:
        with self._index_lock:
            return len(self._index)

    @property
    def last_seq(self) -> int:
        """The last change-log sequence number applied to this index."""
        return self._last_seq

    @property
    def index_kind(self) -> str:
        """The index kind in use (a trainable kind is `flat` until there is enough data)."""
        return self._index.effective_kind

    def rebuild(self, build_threads: int = 0) -> None:
        """Build a fresh index from this embedder's SQL rows, swap it in, then catch up with the log.

        `build_threads` (0: the index's search setting) is for the start-up build, when no request competes for
        the cores: a large graph index builds on all of them instead of FACEVER_INDEX_THREADS."""
        with self.session_factory() as session:
            seq = repository.last_seq(session)  # read first: events after it are replayed by sync()
            ids, vectors = repository.load_embeddings(session, self.embedder, self.dim)
        index = self._build(ids, vectors, build_threads)  # searches keep using the old index meanwhile
        with self._sync_lock, self._index_lock:
            self._index, self._last_seq = index, seq
        self.sync()

    def sync(self, wait: bool = True) -> int:
        """Apply change-log events after the last one seen; returns how many were this embedder's.

        With `wait=False` it returns 0 at once if another thread is syncing.
        """
        if not self._sync_lock.acquire(blocking=wait):
            return 0
        try:
            with self.session_factory() as session:
                changes = repository.changes_after(session, self._last_seq)
                final = {c.face_id: c.op for c in changes if c.embedder == self.embedder}
                added = [face_id for face_id, op in final.items() if op == "add"]
                # a face added then removed since is simply not found here
                ids, vectors = repository.load_embeddings(session, self.embedder, self.dim, face_ids=added)
            with self._index_lock:
                self._index.remove([face_id for face_id, op in final.items() if op == "remove"])
                self._index.add(ids, vectors)
                if changes:
                    self._last_seq = changes[-1].seq
                self._last_sync = time.monotonic()
                stale = self._index.needs_rebuild
        finally:
            self._sync_lock.release()
        if stale:
            self.rebuild()
        return len(final)

    def enrol(self, identity_id: int, faces: Sequence[NewFace]) -> list[AddedFace]:
        """Store faces (unit-normalised) for an identity; they are searchable here on return."""
        unit_faces = [dataclasses.replace(face, embedding=self._unit(face.embedding)) for face in faces]
        with write_session(self.session_factory) as session:
            added = repository.add_faces(session, identity_id, self.embedder, unit_faces)
        self.sync()
        return added

    def remove_face(self, face_id: int, identity_id: int | None = None) -> None:
        """Delete a face; gone from this worker's results on return."""
        with write_session(self.session_factory) as session:
            repository.delete_face(session, face_id, identity_id)
        self.sync()

    def remove_identity(self, identity_id: int) -> list[int]:
        """Delete an identity and its faces; returns the face ids, gone from this worker on return."""
        with write_session(self.session_factory) as session:
            face_ids = repository.delete_identity(session, identity_id)
        self.sync()
        return face_ids

    def search(self, vector: np.ndarray, top_k: int = 5, threshold: float | None = None) -> list[Candidate]:
        """Up to `top_k` identities by their best face's similarity, at least `threshold` if given."""
        if top_k <= 0:
            return []
        if time.monotonic() - self._last_sync > self.sync_interval:
            self.sync(wait=False)  # a sync already running elsewhere is fresh enough
        query = self._unit(vector)
        fetch = top_k * _OVERFETCH
        while True:
            with self._index_lock:
                scores, ids = self._index.search(query, fetch)
                size = len(self._index)
            hits = [
                (int(face_id), float(score))
                for score, face_id in zip(scores[0], ids[0], strict=True)
                if face_id >= 0 and (threshold is None or score >= threshold)
            ]
            best = self._best_per_identity(hits)
            # stop when enough identities, or the index (or the threshold) has no more faces to give
            if len(best) >= top_k or len(hits) < fetch or fetch >= size:
                return best[:top_k]
            fetch *= _OVERFETCH

    def _best_per_identity(self, hits: list[tuple[int, float]]) -> list[Candidate]:
        with self.session_factory() as session:
            # faces deleted by another worker since the last sync are no longer in SQL: dropped here
            owners = repository.face_owners(session, [face_id for face_id, _ in hits])
        best: dict[int, Candidate] = {}
        for face_id, score in hits:  # best first
            owner = owners.get(face_id)
            if owner is not None and owner.identity_id not in best:
                best[owner.identity_id] = Candidate(owner.identity_id, owner.name, face_id, score)
        return list(best.values())

    def match_identity(self, identity_id: int, vector: np.ndarray) -> Candidate | None:
        """The identity's best face for `vector`, from SQL; None if it has no face of this embedder."""
        with self.session_factory() as session:
            identity = repository.get_identity(session, identity_id)
            ids, vectors = repository.load_embeddings(session, self.embedder, self.dim, identity_id=identity_id)
        if not len(ids):
            return None
        similarities = vectors @ self._unit(vector)
        best = int(np.argmax(similarities))
        return Candidate(identity.id, identity.name, int(ids[best]), float(similarities[best]))

    def _unit(self, vector: np.ndarray) -> np.ndarray:
        """`vector` as a float32 unit vector of this gallery's dimension."""
        flat = np.asarray(vector, dtype=np.float32).reshape(-1)
        if flat.size != self.dim:
            raise ValueError(f"embedding has {flat.size} values, the gallery expects {self.dim}")
        return flat / max(float(np.linalg.norm(flat)), 1e-12)
