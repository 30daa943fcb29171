"""Cohort score normalisation: a cosine corrected by how close each side lies to faces in general.

Some faces resemble many others to a given model: a probe like that (a "wolf") or an enrolled identity like that
(a "lamb", Doddington et al., ICSLP 1998) draws high cosines from strangers, so one threshold accepts far more
impostors for them than for everyone else. Each vector x gets a shift m_x, the mean of its K highest cosines
against a fixed cohort of C faces of people who are neither enrolled nor probed, and a pair is scored

    score(a, b) = cos(a, b) - (m_a + m_b) / 2

This is the adaptive cohort selection of AS-norm (top-K cohort scores per side: Sturim & Reynolds, ICASSP 2005;
Matějka et al., Interspeech 2017) with the mean subtracted and no division by the cohort's spread, which on LFW
scored no better. docs/identity-decisions.md has what it does to every decision.

A model that ships a cohort (its card's `cohort`, the file cohort.npy beside model.onnx) is scored this way
everywhere the service compares faces with a threshold; a model without one is scored by the plain cosine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from service.errors import ErrorCode, FaceverError
from service.vision.file_hash import file_sha256
from service.vision.model_card import CohortSpec

TOP_K = 10  # cohort cosines averaged per vector
COHORT_FILE = "cohort.npy"
CHUNK = 4096  # rows searched at once, so a gallery's worth of templates is never held as one (N, C) block


@dataclass(frozen=True)
class Cohort:
    """vectors: (C, D) float32 unit rows of the cohort's faces; top_k: K of the module docstring (<= C)."""

    vectors: np.ndarray
    top_k: int = TOP_K

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or not 1 <= self.top_k <= len(self.vectors):
            raise ValueError(f"a cohort needs (C, D) vectors and 1 <= top_k <= C; got {self.vectors.shape}, "
                             f"top_k={self.top_k}")
        # FAISS finds each row's top_k cosines: a request's one or two rows go through its own SIMD loop, never a
        # threaded BLAS call (OpenBLAS threads competing across concurrent requests measured 6x slower at p95)
        index = faiss.IndexFlatIP(self.vectors.shape[1])
        index.add(np.ascontiguousarray(self.vectors, np.float32))
        object.__setattr__(self, "_index", index)

    def shifts(self, vectors: np.ndarray) -> np.ndarray:
        """(N, D) unit vectors -> (N,) float32 shifts m: the mean of each row's top_k cosines with the cohort.
        Rows go CHUNK at a time."""
        rows = np.ascontiguousarray(np.asarray(vectors, np.float32).reshape(-1, self.vectors.shape[1]))
        found = np.empty(len(rows), np.float32)
        for start in range(0, len(rows), CHUNK):
            top, _ = self._index.search(rows[start:start + CHUNK], self.top_k)
            found[start:start + CHUNK] = top.mean(axis=1)
        return found


def normalised(cosine: np.ndarray | float, shift_a: np.ndarray | float, shift_b: np.ndarray | float) -> np.ndarray:
    """score = cosine - (shift_a + shift_b) / 2, element-wise (broadcasting: one probe against many templates)."""
    return np.asarray(cosine, np.float32) - (np.asarray(shift_a, np.float32) + np.asarray(shift_b, np.float32)) / 2


@dataclass(frozen=True)
class Scoring:
    """How a probe is scored against a face or a template: the cohort-normalised cosine when there is a cohort,
    else the cosine itself (every shift 0)."""

    cohort: Cohort | None = None

    def shifts(self, vectors: np.ndarray) -> np.ndarray:
        """(N, D) or (D,) unit vectors -> (N,) float32 shifts (zeros without a cohort)."""
        if self.cohort is None:
            return np.zeros(len(np.atleast_2d(vectors)), np.float32)
        return self.cohort.shifts(vectors)

    def score(self, cosine: np.ndarray | float, shift_a: np.ndarray | float,
              shift_b: np.ndarray | float) -> np.ndarray:
        return normalised(cosine, shift_a, shift_b)

    def pair(self, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
        """(cosine, score) of two (D,) unit embeddings: photo against photo."""
        cosine = float(np.dot(a, b))
        shift_a, shift_b = self.shifts(np.stack([a, b]))
        return cosine, float(self.score(cosine, shift_a, shift_b))

    @property
    def index_dims(self) -> int:
        """Extra dimensions of index rows over embeddings: 1 with a cohort (index_rows), else 0."""
        return 0 if self.cohort is None else 1

    def index_rows(self, templates: np.ndarray) -> np.ndarray:
        """(n, D) unit templates -> (n, D + index_dims) rows whose inner product with index_query(q) is
        cos(q, t) - m_t / 2: the score less the probe's own half shift, so an inner-product index ranks
        templates exactly by score."""
        templates = np.atleast_2d(np.asarray(templates, np.float32))
        if self.cohort is None:
            return templates
        return np.hstack([templates, -self.shifts(templates)[:, None] / 2]).astype(np.float32)

    def index_query(self, probe: np.ndarray) -> np.ndarray:
        """(D,) unit probe -> (D + index_dims,) query for index_rows."""
        probe = np.asarray(probe, np.float32).reshape(-1)
        return probe if self.cohort is None else np.append(probe, np.float32(1.0))


def save_cohort(model_dir: Path, cohort: Cohort, source: str) -> CohortSpec:
    """Write model_dir/cohort.npy (float16 rows) and return the card entry naming it."""
    path = Path(model_dir) / COHORT_FILE
    np.save(path, np.asarray(cohort.vectors, np.float16))
    return CohortSpec(faces=len(cohort.vectors), top_k=cohort.top_k, sha256=file_sha256(path), source=source)


def load_cohort(model_dir: Path, spec: CohortSpec, dim: int) -> Cohort:
    """The cohort a card names, checked against its sha256 and shape (invalid_model otherwise); rows are
    re-normalised after their float16 storage."""
    path = Path(model_dir) / COHORT_FILE
    if not path.is_file():
        raise FaceverError(ErrorCode.invalid_model, f"the card names a cohort but {path} is missing")
    sha = file_sha256(path)
    if sha != spec.sha256:
        raise FaceverError(ErrorCode.invalid_model, f"{path} sha256 {sha} does not match the card's {spec.sha256}")
    vectors = np.load(path, allow_pickle=False).astype(np.float32)
    if vectors.shape != (spec.faces, dim):
        raise FaceverError(ErrorCode.invalid_model, f"{path} holds {vectors.shape}, the card says ({spec.faces}, {dim})")
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), np.float32(1e-12))
    return Cohort(vectors, spec.top_k)
