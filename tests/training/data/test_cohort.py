"""A score-normalisation cohort from a prepared folder: one real face per person, embedded by the given model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.data.dataset import PackedFaces
from training.data.prepare import PrepareReport
from training.export.cohort import build_cohort, cohort_crops


def test_one_face_per_person_and_no_more_than_asked(prepared: tuple[Path, PrepareReport]) -> None:
    data_dir, _ = prepared
    packed = PackedFaces(data_dir, train=False)
    stored = {packed.crop(i).tobytes(): int(packed.labels[i]) for i in range(len(packed))}
    crops = cohort_crops([data_dir], faces=100, seed=0)
    assert crops.shape[1:] == (112, 96, 3) and crops.dtype == np.uint8
    people = [stored[crop.tobytes()] for crop in crops]  # every crop is one of the folder's, found by its bytes
    assert sorted(people) == sorted(set(packed.labels.tolist()))  # each person exactly once
    assert len(cohort_crops([data_dir], faces=2, seed=0)) == 2
    assert not np.array_equal(cohort_crops([data_dir], 100, seed=0), cohort_crops([data_dir], 100, seed=1))


def test_the_cohort_holds_the_embedded_crops(prepared: tuple[Path, PrepareReport]) -> None:
    data_dir, _ = prepared

    def embed(crops: np.ndarray) -> np.ndarray:  # a stand-in embedder: the mean colour, as a unit vector
        means = crops.reshape(len(crops), -1, 3).mean(axis=1)
        return means / np.linalg.norm(means, axis=1, keepdims=True)

    cohort = build_cohort([data_dir], embed, faces=100, top_k=2)
    assert cohort.vectors.shape == (len(cohort_crops([data_dir], 100)), 3) and cohort.top_k == 2
    assert np.allclose(np.linalg.norm(cohort.vectors, axis=1), 1.0)
