"""A score-normalisation cohort (service.vision.cohort) from prepared training folders: one face per person."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from service.vision.cohort import TOP_K, Cohort
from training.data.dataset import PackedFaces

COHORT_FACES = 2000  # on LFW, 1,000 or 3,000 random training faces scored within a fold's spread of this


def cohort_crops(data_dirs: Sequence[Path], faces: int = COHORT_FACES, seed: int = 0) -> np.ndarray:
    """(C, 112, 96, 3) uint8 aligned crops: one random face of each of C random people of the folders
    (C = min(faces, their people)); people of different folders count as different people."""
    rng = np.random.default_rng(seed)
    chosen: list[tuple[PackedFaces, int]] = []
    for data_dir in data_dirs:
        packed = PackedFaces(Path(data_dir), train=False)
        order = rng.permutation(len(packed.labels))
        _, first = np.unique(packed.labels[order], return_index=True)  # a random face of each person
        chosen += [(packed, int(i)) for i in order[first]]
    picked = rng.permutation(len(chosen))[:faces]
    if not len(picked):
        raise ValueError(f"no faces in {[str(d) for d in data_dirs]}")
    return np.stack([chosen[i][0].crop(chosen[i][1]) for i in picked])


def build_cohort(data_dirs: Sequence[Path], embed: Callable[[np.ndarray], np.ndarray], faces: int = COHORT_FACES,
                 top_k: int | None = None, seed: int = 0) -> Cohort:
    """Embed cohort_crops with `embed` ((N, 112, 96, 3) uint8 -> (N, D) unit rows, e.g. Embedder.embed); top_k
    defaults to the service's TOP_K, or every face of a smaller cohort."""
    vectors = np.asarray(embed(cohort_crops(data_dirs, faces, seed)), np.float32)
    return Cohort(vectors, min(TOP_K, len(vectors)) if top_k is None else top_k)
