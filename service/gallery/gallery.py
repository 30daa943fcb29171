"""The gallery: enrol, remove and search identities, keeping this worker's FAISS index equal to SQL.

SQL is the source of truth. Every write commits to SQL first (with its change-log events in the same
transaction), then this worker applies the change log to its index before returning, so its own writes are
visible at once. Other workers' writes arrive through `sync()`, which `search()` runs when the last sync is
older than `sync_interval` seconds.

The index holds one vector per identity: its template, the normalised mean of its faces' embeddings
(service.gallery.templates), stored with its cohort shift when the model has a cohort, so that the index ranks
templates exactly by score (service.vision.cohort). An event recomputes its identity's template from SQL as it is then, so replaying
events is idempotent and a worker that lags only shows an older state. Template keys in the index are this
worker's own and never reused (graph indexes cannot delete). Start-up calls `rebuild()`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.db.engine import write_session
from service.gallery import repository
from service.gallery.index import FaceIndex, IndexSettings
from service.gallery.repository import AddedFace, NewFace
from service.gallery.templates import Templates, mean_template
from service.vision.cohort import Scoring


@dataclass(frozen=True)
class Candidate:
    """An identity scored against a probe: its template's cosine similarity and score (the cosine, cohort-normalised
    when the model ships a cohort: what thresholds apply to), its face count and best-matching face."""

    identity_id: int
    name: str
    external_id: str | None
    face_id: int
    similarity: float
    faces: int
    score: float


@dataclass
class _Entry:
    key: int  # the template's id in this worker's index
    faces: int


class Gallery:
    """Identity search for one embedder over SQL rows, through an in-memory FAISS index of templates."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        embedder_name: str,
        dim: int,
        index_settings: IndexSettings | None = None,
        sync_interval: float = 0.5,
        scoring: Scoring | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.embedder, self.dim = embedder_name, dim
        self.scoring = scoring or Scoring()
        self.index_settings = index_settings or IndexSettings()
        self.sync_interval = sync_interval
        # _sync_lock orders syncs and rebuild swaps (held across SQL reads);
        # _index_lock guards the index and the entries against concurrent search and mutation (held briefly)
        self._sync_lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._index = self._build(np.empty(0, np.int64), np.empty((0, dim), np.float32))
        self._entries: dict[int, _Entry] = {}  # identity id -> its template in the index
        self._owners: dict[int, int] = {}  # template key -> identity id
        self._next_key = 1
        self._last_seq = 0
        self._last_sync = -math.inf

    @classmethod
    def from_settings(cls, session_factory: sessionmaker[Session], settings: Settings, dim: int,
                      scoring: Scoring | None = None) -> Gallery:
        return cls(
            session_factory,
            settings.embedder,
            dim,
            IndexSettings.from_settings(settings),
            settings.gallery_sync_interval,
            scoring,
        )

    def _build(self, keys: np.ndarray, templates: np.ndarray, build_threads: int = 0) -> FaceIndex:
        settings = self.index_settings
        return FaceIndex.build(self.dim + self.scoring.index_dims, settings.kind, settings.params, keys,
                               self.scoring.index_rows(templates), settings.threads, build_threads)

    def __len__(self) -> int:
        """Enrolled faces of this embedder."""
        with self._index_lock:
            return sum(entry.faces for entry in self._entries.values())

    @property
    def identities(self) -> int:
        """Identities with at least one face of this embedder: the N of open-set identification."""
        with self._index_lock:
            return len(self._entries)

    @property
    def last_seq(self) -> int:
        """The last change-log sequence number applied to this index."""
        return self._last_seq

    @property
    def index_kind(self) -> str:
        """The index kind in use (a trainable kind is `flat` until there is enough data)."""
        return self._index.effective_kind

    def _load(self, identity_ids: Sequence[int] | None = None) -> Templates:
        with self.session_factory() as session:
            rows = repository.identity_embeddings(session, self.embedder, self.dim, identity_ids)
            return Templates.from_rows(((identity_id, vector) for identity_id, _, vector in rows), self.dim)

    def rebuild(self, build_threads: int = 0) -> None:
        """Build a fresh index from this embedder's SQL rows, swap it in, then catch up with the log.

        `build_threads` (0: the index's search setting) is for the start-up build, when no request competes for
        the cores: a large graph index builds on all of them instead of FACEVER_INDEX_THREADS."""
        with self.session_factory() as session:
            seq = repository.last_seq(session)  # read first: events after it are replayed by sync()
        templates = self._load()
        keys = np.arange(1, len(templates.identity_ids) + 1, dtype=np.int64)
        index = self._build(keys, templates.vectors, build_threads)  # searches keep using the old index meanwhile
        ids, faces = templates.identity_ids.tolist(), templates.faces.tolist()
        with self._sync_lock, self._index_lock:
            self._index, self._last_seq, self._next_key = index, seq, len(keys) + 1
            self._entries = {identity_id: _Entry(key, n) for identity_id, key, n in zip(ids, keys.tolist(), faces)}
            self._owners = {entry.key: identity_id for identity_id, entry in self._entries.items()}
        self.sync()

    def sync(self, wait: bool = True) -> int:
        """Apply change-log events after the last one seen; returns how many were this embedder's.

        With `wait=False` it returns 0 at once if another thread is syncing.
        """
        if not self._sync_lock.acquire(blocking=wait):
            return 0
        try:
            with self.session_factory() as session:
                events = repository.changes_after(session, self._last_seq)
            changes = [change for change in events if change.embedder == self.embedder]
            # an event logged before events named their identity cannot be placed: start again from SQL
            unplaced = any(change.identity_id is None for change in changes)
            touched = sorted({change.identity_id for change in changes if change.identity_id is not None})
            templates = self._load(touched) if touched and not unplaced else None
            with self._index_lock:
                if templates is not None:
                    self._replace(touched, templates)
                if events and not unplaced:
                    self._last_seq = events[-1].seq
                self._last_sync = time.monotonic()
                stale = unplaced or self._index.needs_rebuild
        finally:
            self._sync_lock.release()
        if stale:
            self.rebuild()
        return len(changes)

    def _replace(self, identity_ids: Iterable[int], templates: Templates) -> None:
        """Swap in the new templates of `identity_ids`; one without faces left leaves the index."""
        old = [self._entries.pop(i).key for i in identity_ids if i in self._entries]
        for key in old:
            del self._owners[key]
        self._index.remove(old)
        keys = np.arange(self._next_key, self._next_key + len(templates.identity_ids), dtype=np.int64)
        self._next_key += len(keys)
        self._index.add(keys, self.scoring.index_rows(templates.vectors))
        for identity_id, key, faces in zip(templates.identity_ids.tolist(), keys.tolist(), templates.faces.tolist()):
            self._entries[identity_id] = _Entry(key, faces)
            self._owners[key] = identity_id

    def enrol(self, identity_id: int, faces: Sequence[NewFace]) -> list[AddedFace]:
        """Store faces (unit-normalised) for an identity; they are searchable here on return."""
        unit_faces = [replace(face, embedding=self._unit(face.embedding)) for face in faces]
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

    def refresh(self) -> None:
        """Sync if the last sync is older than `sync_interval`: before reading what other workers may have changed."""
        if time.monotonic() - self._last_sync > self.sync_interval:
            self.sync(wait=False)  # a sync already running elsewhere is fresh enough

    def search(self, vector: np.ndarray, top_k: int = 5, threshold: float | None = None) -> list[Candidate]:
        """Up to `top_k` identities by their template's score, at least `threshold` if given.

        The index proposes the identities; their scores and best faces are then read from SQL, so an identity
        changed or deleted by another worker since the last sync is scored as it is now, or left out."""
        if top_k <= 0:
            return []
        self.refresh()
        query = self._unit(vector)
        with self._index_lock:
            _, keys = self._index.search(self.scoring.index_query(query), top_k)
            found = [self._owners[key] for key in keys[0].tolist() if key in self._owners]
        scored = self._score(found, query)
        return [c for c in scored if threshold is None or c.score >= threshold][:top_k]

    def _score(self, identity_ids: Sequence[int], query: np.ndarray) -> list[Candidate]:
        """Candidates for the identities that still have faces, best score first."""
        with self.session_factory() as session:
            identities = repository.identities_by_id(session, identity_ids)
            faces: dict[int, tuple[list[int], list[np.ndarray]]] = {}
            for identity_id, face_id, embedding in repository.identity_embeddings(
                session, self.embedder, self.dim, identity_ids
            ):
                ids, vectors = faces.setdefault(identity_id, ([], []))
                ids.append(face_id)
                vectors.append(embedding)
        kept = [i for i in faces if i in identities]
        if not kept:
            return []
        templates = np.stack([mean_template(np.stack(faces[i][1])) for i in kept])
        similarities = templates @ query
        scores = self.scoring.score(similarities, self.scoring.shifts(query)[0], self.scoring.shifts(templates))
        candidates = []
        for identity_id, similarity, score in zip(kept, similarities.tolist(), scores.tolist()):
            ids, vectors = faces[identity_id]
            best = int(np.argmax(np.stack(vectors) @ query))
            identity = identities[identity_id]
            candidates.append(Candidate(identity_id, identity.name, identity.external_id, ids[best], similarity,
                                        len(ids), score))
        return sorted(candidates, key=lambda c: -c.score)

    def match_identity(self, identity_id: int, vector: np.ndarray) -> Candidate | None:
        """The identity scored against `vector` by its template, from SQL; None if it has no face of this
        embedder. Raises FaceverError(not_found) for an unknown identity."""
        with self.session_factory() as session:
            repository.get_identity(session, identity_id)
        found = self._score([identity_id], self._unit(vector))
        return found[0] if found else None

    def _unit(self, vector: np.ndarray) -> np.ndarray:
        """`vector` as a float32 unit vector of this gallery's dimension."""
        flat = np.asarray(vector, dtype=np.float32).reshape(-1)
        if flat.size != self.dim:
            raise ValueError(f"embedding has {flat.size} values, the gallery expects {self.dim}")
        return flat / max(float(np.linalg.norm(flat)), 1e-12)
