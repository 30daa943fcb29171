"""A model's score-normalisation cohort (service.vision.cohort) from prepared training folders, one face per person,
embedded by that model and shipped beside it as cohort.npy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from service.vision.cohort import TOP_K, Cohort, save_cohort
from service.vision.embedder import Embedder
from service.vision.model_card import Metrics, ModelCard, Thresholds
from training.data.dataset import PackedFaces
from training.distill.cache import cache_dir
from training.distill.dataset import OVERLAP_FILE, overlap_excluded

COHORT_FACES = 2000  # on LFW, 1,000 or 3,000 random training faces scored within a fold's spread of this
SAME_FACE_COSINE = 0.999  # a face re-embedded by the model that made a cohort row; other faces score far lower
MATCH_BATCH = 512  # crops embedded at once while looking for another cohort's faces


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


def crops_of_cohort(data_dirs: Sequence[Path], cohort: Cohort, embed: Callable[[np.ndarray], np.ndarray],
                    min_cosine: float = SAME_FACE_COSINE) -> np.ndarray:
    """(C, 112, 96, 3) uint8: for each of the C cohort rows, the face of data_dirs whose embedding by `embed` (the
    model that made the cohort) lies closest to it. Raises ValueError when a row's closest face scores below
    min_cosine: the folders do not hold that cohort's faces."""
    rows = np.asarray(cohort.vectors, np.float32)
    best = np.full(len(rows), -np.inf, np.float32)
    found: list[tuple[PackedFaces, int] | None] = [None] * len(rows)
    for data_dir in data_dirs:
        packed = PackedFaces(Path(data_dir), train=False)
        for start in tqdm(range(0, len(packed), MATCH_BATCH), desc=f"cohort faces in {Path(data_dir).name}"):
            items = range(start, min(start + MATCH_BATCH, len(packed)))
            cosines = rows @ np.asarray(embed(np.stack([packed.crop(i) for i in items])), np.float32).T
            closest = cosines.argmax(axis=1)
            better = np.flatnonzero(cosines[np.arange(len(rows)), closest] > best)
            best[better] = cosines[better, closest[better]]
            for row in better:
                found[row] = (packed, items[closest[row]])
    if best.min() < min_cosine:  # a Cohort has at least one row
        raise ValueError(f"{int((best < min_cosine).sum())} of {len(rows)} cohort faces are not in "
                         f"{[str(d) for d in data_dirs]} (lowest closest cosine {best.min():.4f})")
    return np.stack([packed.crop(i) for packed, i in found])


def ship_cohort(model_dir: Path, data_dirs: Sequence[Path], faces: int = COHORT_FACES, seed: int = 0,
                version: str | None = None, faces_of: Path | None = None) -> ModelCard:
    """Embed a cohort of `data_dirs` with model_dir's own model, write it as model_dir/cohort.npy and name it in the
    card. Thresholds and LFW metrics were measured on the old scores, so the card drops them: evaluate the model
    again (`facever evaluate lfw`, `facever evaluate identities`) and `facever calibrate` it with both reports.

    The folders must hold training faces (facever prepare), never evaluation ones: a cohort face of a probed or
    enrolled person would lower that person's scores.

    faces_of: another form of the same network (the fp16 model an int8 one was quantised from) whose cohort faces
    to embed instead of choosing them by `seed`, so both forms normalise against the same people; they are found
    in data_dirs by their embeddings (crops_of_cohort)."""
    embedder = Embedder(model_dir)
    if faces_of is None:
        cohort = build_cohort(data_dirs, embedder.embed, faces, seed=seed)
        unsearched = [Path(d).name for d in data_dirs if not searched_for_lfw(d)]
        source = (f"{len(cohort.vectors)} faces, one random face each of as many random people of "
                  f"{', '.join(Path(d).name for d in data_dirs)} (seed {seed}); "
                  + (f"not searched for LFW near-duplicates: {', '.join(unsearched)}" if unsearched
                     else "LFW near-duplicates left out"))
    else:
        other = Embedder(faces_of)
        reused = other.scoring.cohort  # loaded exactly when the card names one
        if reused is None:
            raise ValueError(f"{faces_of} ships no cohort whose faces to reuse")
        cohort = Cohort(np.asarray(embedder.embed(crops_of_cohort(data_dirs, reused, other.embed)), np.float32),
                        reused.top_k)
        source = f"the faces of {other.card.name}'s cohort: {other.card.cohort.source}"
    card = embedder.card.updated(
        version=version or embedder.card.version, cohort=save_cohort(model_dir, cohort, source), calibration=None, thresholds=Thresholds(),
        metrics=Metrics(sep_mean=embedder.card.metrics.sep_mean, sep_std=embedder.card.metrics.sep_std))
    card.write(model_dir)
    return card
