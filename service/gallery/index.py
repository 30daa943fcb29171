"""FAISS inner-product index over int64 face ids: exact flat, IVF, HNSW, PCA + HNSW or SQ8, with removals.

Kinds and their `params`:
- flat: exact search (IndexFlatIP), the default.
- ivf: IndexIVFFlat; `nlist` (default 4·sqrt(n)), `nprobe` (default 16). It is trained on the
  vectors present when built (a seeded sample of at most 64·nlist of them: k-means cost grows with
  the sample, and 64 points per list place the centroids about as well as FAISS's own 256); with
  fewer than 39·nlist of them (FAISS's minimum for k-means) it falls back to exact flat search, and
  asks for a rebuild once there are enough.
- sq8: 8-bit scalar quantiser; trained (per-dimension ranges) on the vectors present, exact flat
  below `min_train` (default 1000) vectors.
- hnsw: IndexHNSWFlat; `M` (32), `ef_construction` (80), `ef_search` (64). HNSW cannot delete, so
  removed ids become tombstones filtered out of results (the search over-fetches by their number);
  once they pass 20% of the stored vectors the index asks for a rebuild.
- hnsw-pca: the HNSW graph is built over the vectors' first `dims` (128) principal components, then
  the `refine`·k (10·k) best candidates are re-scored exactly on the full vectors. Face embeddings
  carry most of their identity in a few principal directions, so the small graph finds the right
  identity and the exact re-score orders its faces; 8x shorter vectors make the graph far cheaper to build.
  `M` (32), `ef_construction` (80), `ef_search` (128), `min_train` (1000): PCA is trained on a seeded
  sample of at most 50,000 of the vectors present; exact flat below `min_train`. Tombstones as hnsw.
Trainable kinds also ask for a rebuild when the gallery has grown 4x since training.

Not thread-safe: the owner (Gallery) serialises calls. Ids must never be reused. `threads` (0: leave FAISS's
default) is applied on whichever thread calls in: OpenMP thread counts are per thread, and the service calls
from request-pool threads, not the one that created the index.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import faiss
import numpy as np

from service.config import IndexKind, Settings

_PARAMS: dict[str, set[str]] = {
    "flat": set(),
    "ivf": {"nlist", "nprobe"},
    "sq8": {"min_train"},
    "hnsw": {"M", "ef_construction", "ef_search"},
    "hnsw-pca": {"dims", "M", "ef_construction", "ef_search", "refine", "min_train"},
}
_TRAINABLE = ("ivf", "sq8", "hnsw-pca")
_GRAPHS = ("hnsw", "hnsw-pca")  # cannot delete: removed ids become tombstones
_IVF_POINTS_PER_LIST = 39
_IVF_TRAIN_PER_LIST = 64
_PCA_TRAIN = 50_000  # the principal directions settle long before this; more only costs build time
_HNSW_TOMBSTONE_FRACTION = 0.2
_RETRAIN_GROWTH = 4


@dataclass(frozen=True)
class IndexSettings:
    """Which index to build and how many OpenMP threads FAISS may use (0 = its default)."""

    kind: IndexKind = "flat"
    params: Mapping[str, float] = field(default_factory=dict)
    threads: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> IndexSettings:
        return cls(settings.index_kind, dict(settings.index_params), settings.index_threads)


def as_matrix(vectors: np.ndarray | Iterable[float], dim: int) -> np.ndarray:
    """`vectors` as a C-contiguous float32 (n, dim) matrix, as FAISS wants it."""
    return np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(-1, dim))


class FaceIndex:
    """Inner-product search over (id, vector) pairs; add and remove are idempotent."""

    def __init__(
        self,
        dim: int,
        kind: IndexKind = "flat",
        params: Mapping[str, float] | None = None,
        train_vectors: np.ndarray | None = None,
        threads: int = 0,
    ) -> None:
        if kind not in _PARAMS:
            raise ValueError(f"unknown index kind {kind!r}; use one of {sorted(_PARAMS)}")
        self.params = dict(params or {})
        unknown = set(self.params) - _PARAMS[kind]
        if unknown:
            raise ValueError(f"unknown {kind} index params {sorted(unknown)}; allowed {sorted(_PARAMS[kind])}")
        self.dim, self.kind, self.threads = dim, kind, threads
        self._pin_threads()
        train = np.empty((0, dim), np.float32) if train_vectors is None else as_matrix(train_vectors, dim)
        self._index, self.trained_on = self._create(train)
        self._ids: set[int] = set()
        self._tombstones: set[int] = set()

    @classmethod
    def build(
        cls, dim: int, kind: IndexKind, params: Mapping[str, float] | None, ids: np.ndarray, vectors: np.ndarray,
        threads: int = 0, build_threads: int = 0,
    ) -> FaceIndex:
        """An index of `kind` trained on and holding `vectors`, built on `build_threads` (0: `threads`) threads,
        e.g. every core before the service takes requests; later calls run on `threads`."""
        index = cls(dim, kind, params, train_vectors=vectors, threads=build_threads or threads)
        index.add(ids, vectors)
        index.threads = threads
        return index

    def _pin_threads(self) -> None:
        if self.threads:
            faiss.omp_set_num_threads(self.threads)

    def _min_train(self, n: int) -> int:
        if self.kind == "ivf":
            return self._nlist(n) * _IVF_POINTS_PER_LIST
        return int(self.params.get("min_train", 1000))

    def _nlist(self, n: int) -> int:
        return int(self.params.get("nlist") or max(1, round(4 * math.sqrt(n))))

    def _create(self, train: np.ndarray) -> tuple[faiss.Index, int]:
        """The FAISS index and how many vectors it was trained on (0: exact flat fallback)."""
        n, ip = len(train), faiss.METRIC_INNER_PRODUCT
        if self.kind == "hnsw":
            return faiss.IndexIDMap(self._graph(self.dim)), 0
        if self.kind == "hnsw-pca" and n >= self._min_train(n):
            dims = min(int(self.params.get("dims", 128)), self.dim)
            reduced = faiss.IndexPreTransform(faiss.PCAMatrix(self.dim, dims), self._graph(dims))
            refined = faiss.IndexRefineFlat(reduced)  # re-scores the graph's candidates on the full vectors
            refined.train(_sample(train, _PCA_TRAIN))
            return faiss.IndexIDMap(refined), n
        if self.kind == "ivf" and n >= self._min_train(n):
            # IVF stores ids itself; wrapping it in IndexIDMap would break remove_ids
            nlist = self._nlist(n)
            ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dim), self.dim, nlist, ip)
            ivf.train(_sample(train, _IVF_TRAIN_PER_LIST * nlist))
            ivf.nprobe = int(self.params.get("nprobe", 16))
            return ivf, n
        if self.kind == "sq8" and n >= self._min_train(n):
            sq = faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_8bit, ip)
            sq.train(train)
            return faiss.IndexIDMap(sq), n
        return faiss.IndexIDMap(faiss.IndexFlatIP(self.dim)), 0

    def _graph(self, dim: int) -> faiss.IndexHNSWFlat:
        graph = faiss.IndexHNSWFlat(dim, int(self.params.get("M", 32)), faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = int(self.params.get("ef_construction", 80))
        return graph

    def tune(self, **params: float) -> None:
        """Change search-time parameters (ivf `nprobe`, hnsw `ef_search`, hnsw-pca also `refine`) without
        rebuilding."""
        allowed = {"ivf": {"nprobe"}, "hnsw": {"ef_search"}, "hnsw-pca": {"ef_search", "refine"}}.get(self.kind, set())
        if set(params) - allowed:
            raise ValueError(f"{self.kind} can tune only {sorted(allowed)}, not {sorted(set(params) - allowed)}")
        self.params.update(params)
        if "nprobe" in params and self.effective_kind == "ivf":
            self._index.nprobe = int(params["nprobe"])

    @property
    def effective_kind(self) -> str:
        """The kind actually searched: trainable kinds are `flat` until trained."""
        return "flat" if self.kind in _TRAINABLE and not self.trained_on else self.kind

    @property
    def ntotal(self) -> int:
        """Vectors stored by FAISS, tombstoned ones included."""
        return int(self._index.ntotal)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, face_id: int) -> bool:
        return face_id in self._ids

    @property
    def needs_rebuild(self) -> bool:
        """Whether rebuilding would purge tombstones or (re)train on a grown gallery."""
        if len(self._tombstones) > _HNSW_TOMBSTONE_FRACTION * max(self.ntotal, 1):
            return True
        if self.kind not in _TRAINABLE:
            return False
        if not self.trained_on:
            return len(self) >= self._min_train(len(self))
        return len(self) >= _RETRAIN_GROWTH * self.trained_on

    def add(self, ids: np.ndarray | Iterable[int], vectors: np.ndarray) -> None:
        """Add vectors under `ids`; ids already present are skipped."""
        self._pin_threads()
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        matrix = as_matrix(vectors, self.dim)
        if len(ids) != len(matrix):
            raise ValueError(f"{len(ids)} ids for {len(matrix)} vectors")
        new = np.fromiter((i not in self._ids for i in ids.tolist()), bool, len(ids))
        if new.any():
            self._index.add_with_ids(matrix[new], ids[new])
            self._ids.update(ids[new].tolist())

    def remove(self, ids: np.ndarray | Iterable[int]) -> None:
        """Remove `ids`; ids not present are skipped."""
        present = [i for i in np.asarray(ids, dtype=np.int64).reshape(-1).tolist() if i in self._ids]
        if not present:
            return
        self._ids.difference_update(present)
        self._pin_threads()
        if self.effective_kind in _GRAPHS:
            self._tombstones.update(present)
        else:
            self._index.remove_ids(np.asarray(present, dtype=np.int64))

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-`k` (scores, ids), each (n, k), best first; missing results are (-inf, -1)."""
        self._pin_threads()
        queries = as_matrix(vectors, self.dim)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        fetch = min(k + len(self._tombstones), self.ntotal)
        if fetch == 0 or k == 0:
            return scores, ids
        found_scores, found_ids = self._index.search(queries, fetch, params=self._search_params(fetch))
        dead = np.fromiter(self._tombstones, np.int64, len(self._tombstones))
        keep = (found_ids >= 0) & ~np.isin(found_ids, dead)
        for row in range(len(queries)):
            row_ids = found_ids[row][keep[row]][:k]
            ids[row, : len(row_ids)] = row_ids
            scores[row, : len(row_ids)] = found_scores[row][keep[row]][:k]
        return scores, ids

    def _search_params(self, fetch: int) -> faiss.SearchParameters | None:
        """The graph kinds' per-search parameters: ef_search never below the candidates asked of the graph."""
        kind = self.effective_kind
        if kind == "hnsw":
            return faiss.SearchParametersHNSW(efSearch=max(int(self.params.get("ef_search", 64)), fetch))
        if kind != "hnsw-pca":
            return None
        refine = int(self.params.get("refine", 10))
        graph = faiss.SearchParametersHNSW(efSearch=max(int(self.params.get("ef_search", 128)), fetch * refine))
        params = faiss.IndexRefineSearchParameters(k_factor=float(refine))
        # FAISS holds raw pointers to the nested parameters: keep them alive as long as the outer one
        params.base_index_params = reduced = faiss.SearchParametersPreTransform(index_params=graph)
        params.referenced_objects = [reduced, graph]
        return params

def _sample(vectors: np.ndarray, limit: int) -> np.ndarray:
    """At most `limit` of the rows, a seeded sample when there are more."""
    if len(vectors) <= limit:
        return vectors
    return vectors[np.random.default_rng(0).choice(len(vectors), limit, replace=False)]
