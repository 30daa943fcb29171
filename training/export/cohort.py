"""A model's score-normalisation cohort (service.vision.cohort) from prepared training folders, one face per person,
embedded by that model and shipped beside it as cohort.npy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from service.vision.cohort import TOP_K, Cohort, save_cohort
from service.vision.embedder import Embedder
from service.vision.model_card import Metrics, ModelCard, Thresholds
from training.data.dataset import PackedFaces
from training.distill.cache import cache_dir
from training.distill.dataset import OVERLAP_FILE, overlap_excluded

COHORT_FACES = 2000  # on LFW, 1,000 or 3,000 random training faces scored within a fold's spread of this


def searched_for_lfw(data_dir: Path) -> bool:
    """Whether `facever distill overlap` searched the folder for near-duplicates of LFW images."""
    return (cache_dir(Path(data_dir)) / OVERLAP_FILE).is_file()


def cohort_crops(data_dirs: Sequence[Path], faces: int = COHORT_FACES, seed: int = 0) -> np.ndarray:
    """(C, 112, 96, 3) uint8 aligned crops: one random face of each of C random people of the folders
    (C = min(faces, their people)); people of different folders count as different people. Faces that near-
    duplicate an LFW image are left out where the folder was searched for them (searched_for_lfw)."""
    rng = np.random.default_rng(seed)
    chosen: list[tuple[PackedFaces, int]] = []
    for data_dir in data_dirs:
        exclude = overlap_excluded(Path(data_dir)) if searched_for_lfw(data_dir) else None
        packed = PackedFaces(Path(data_dir), train=False, exclude=exclude)
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


def ship_cohort(model_dir: Path, data_dirs: Sequence[Path], faces: int = COHORT_FACES, seed: int = 0,
                version: str | None = None) -> ModelCard:
    """Embed a cohort of `data_dirs` with model_dir's own model, write it as model_dir/cohort.npy and name it in the
    card. Thresholds and LFW metrics were measured on the old scores, so the card drops them: evaluate the model
    again (`facever evaluate lfw`, `facever evaluate identities`) and `facever calibrate` it with both reports.

    The folders must hold training faces (facever prepare), never evaluation ones: a cohort face of a probed or
    enrolled person would lower that person's scores."""
    embedder = Embedder(model_dir)
    cohort = build_cohort(data_dirs, embedder.embed, faces, seed=seed)
    unsearched = [Path(d).name for d in data_dirs if not searched_for_lfw(d)]
    source = (f"{len(cohort.vectors)} faces, one random face each of as many random people of "
              f"{', '.join(Path(d).name for d in data_dirs)} (seed {seed}); "
              + (f"not searched for LFW near-duplicates: {', '.join(unsearched)}" if unsearched
                 else "LFW near-duplicates left out"))
    card = embedder.card.updated(
        version=version or embedder.card.version, cohort=save_cohort(model_dir, cohort, source), calibration=None, thresholds=Thresholds(),
        metrics=Metrics(sep_mean=embedder.card.metrics.sep_mean, sep_std=embedder.card.metrics.sep_std))
    card.write(model_dir)
    return card
