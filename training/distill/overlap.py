"""Near-duplicates of evaluation images among training faces, by the teacher's cosine, so they can be dropped.

A training face whose teacher cosine to an LFW image reaches DUPLICATE_COSINE is taken to be that photo
(or a re-crop, re-scale or re-encoding of it) and dropped. The threshold comes from the data
(`facever distill duplicates`, table in docs/training.md): at 0.97 every re-encoded copy whose face the
detector finds again is caught (96.75 % of 400; the rest are detection misses, caught at no threshold),
11.7 % of other photos of the same LFW person are dropped too (harmless: that person is in LFW), and only
0.10 % of photos have a photo of another person that close (faces dropped for nothing).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from training.data.shards import atomic_write
from training.distill.cache import cache_dir, load_teacher_vectors
from training.distill.dataset import OVERLAP_FILE
from training.evaluation.features import Features

DUPLICATE_COSINE = 0.97  # see the module docstring
BLOCK = 4096  # training faces per matrix product


@dataclass(frozen=True)
class Overlap:
    """The training faces (shards' order) that near-duplicate an LFW image, with the image and the cosine."""

    threshold: float
    lfw_images: int
    training_faces: int
    excluded: list[int]
    matches: list[tuple[int, str, float]]


def nearest_lfw(training: np.ndarray, lfw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each (N, D) unit training row, the most similar of (M, D) unit LFW rows: (N,) index, (N,) cosine."""
    index, best = np.zeros(len(training), np.int64), np.full(len(training), -np.inf, np.float32)
    for start in range(0, len(training), BLOCK):
        sims = training[start:start + BLOCK] @ lfw.T
        index[start:start + BLOCK] = sims.argmax(axis=1)
        best[start:start + BLOCK] = sims.max(axis=1)
    return index, best


def find_overlap(data_dir: Path, lfw: Features, threshold: float = DUPLICATE_COSINE) -> Overlap:
    """Search every face of data_dir (needs its teacher cache) against every LFW image; write the result
    beside the cache (DistillFaces reads it to leave the faces out) and return it."""
    vectors = load_teacher_vectors(data_dir)
    index, cosine = nearest_lfw(vectors, lfw.vectors)
    hits = np.flatnonzero(cosine >= threshold)
    overlap = Overlap(threshold, len(lfw.paths), len(vectors), hits.tolist(),
                      [(int(i), lfw.paths[index[i]], round(float(cosine[i]), 4)) for i in hits])
    atomic_write(cache_dir(data_dir) / OVERLAP_FILE, (json.dumps(asdict(overlap), indent=1) + "\n").encode())
    return overlap
