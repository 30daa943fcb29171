"""Identity templates: the normalised mean of an identity's enrolled face embeddings.

The IJB-A/B/C template protocols (Klare et al. 2015; Whitelam et al. 2017; Maze et al. 2018) average a
subject's media into one template; on LFW identities with 3 and 5 faces the mean template refuses fewer genuine
probes than the best single face at the same false-accept rate (docs/identity-decisions.md has the figures).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


def unit_rows(rows: np.ndarray) -> np.ndarray:
    """(n, D) rows scaled to unit length as float32 (a zero row stays zero)."""
    return (rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def mean_template(vectors: np.ndarray) -> np.ndarray:
    """(n, D) unit embeddings -> (D,) float32 unit vector along their mean (a zero mean stays zero)."""
    return unit_rows(np.asarray(vectors, dtype=np.float64).reshape(len(vectors), -1).sum(axis=0, keepdims=True))[0]


@dataclass(frozen=True)
class Templates:
    """One template per identity: ids (n,) int64, vectors (n, D) float32 unit rows, faces (n,) int64 counts."""

    identity_ids: np.ndarray
    vectors: np.ndarray
    faces: np.ndarray

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, np.ndarray]], dim: int) -> Templates:
        """Templates from (identity_id, unit embedding) rows in any order, summed as they stream by."""
        sums: dict[int, np.ndarray] = {}
        counts: dict[int, int] = {}
        for identity_id, vector in rows:
            if identity_id in sums:
                sums[identity_id] += vector
                counts[identity_id] += 1
            else:
                sums[identity_id] = vector.astype(np.float64)
                counts[identity_id] = 1
        ids = np.fromiter(sums, np.int64, len(sums))
        vectors = unit_rows(np.stack([sums[i] for i in ids.tolist()])) if len(ids) else np.zeros((0, dim), np.float32)
        return cls(ids, vectors, np.fromiter((counts[i] for i in ids.tolist()), np.int64, len(ids)))
