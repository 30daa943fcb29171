"""Evidence for the near-duplicate threshold: teacher cosines of re-encoded copies vs of other photos of a person.

A copy is made the way the training crops were cut from their sources: a square of 1.8x the MTCNN box,
resized to 128x128 and saved as JPEG (quality 90); it then goes through the teacher's whole path again.
"""

from __future__ import annotations

import multiprocessing as mp
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from service.vision.image_io import read_image
from training.distill import lfw
from training.distill.teacher import LOOSE_SCALE, loose_crop
from training.evaluation.features import Features

COPY_SCALE, COPY_SIZE, COPY_QUALITY = 1.8, 128, 90


THRESHOLDS = (0.95, 0.96, 0.97, 0.98, 0.99)


@dataclass(frozen=True)
class Caught:
    """At one cosine threshold, the share of each kind of pair at or above it."""

    threshold: float
    copies: float  # re-encoded copies of a photo found (want ~1)
    same_person: float  # other photos of the same person flagged (harmless: that person is in LFW)
    stranger: float  # photos whose most similar photo of ANOTHER person reaches it (faces dropped for nothing)


@dataclass(frozen=True)
class DuplicateEvidence:
    """How many copies, same-person pairs and photos were measured, and what each threshold catches."""

    copies: int
    copy_median: float
    same_person_pairs: int
    photos: int
    caught: list[Caught]


def training_like_copy(path: str) -> tuple[np.ndarray, bool]:
    """The teacher vector of a re-cut, down-scaled, JPEG re-encoded copy of the photo (worker side)."""
    assert lfw._STATE is not None, "worker not initialised"
    pipeline = lfw._STATE[0]
    rgb = read_image(path, pipeline.limits)
    faces = pipeline.detector.detect(rgb)
    box = faces[0].box if faces else lfw.centre_box(*rgb.shape[:2])
    # loose_crop cuts LOOSE_SCALE x the box; scale the box so the cut is COPY_SCALE x it instead
    centre, half = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]) / 2 * COPY_SCALE / LOOSE_SCALE
    cut, _ = loose_crop(rgb, np.concatenate([centre - half, centre + half]))
    small = cv2.resize(cut, (COPY_SIZE, COPY_SIZE), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", small[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, COPY_QUALITY])
    assert ok
    return lfw.vector_of(np.ascontiguousarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[..., ::-1]))


def measure(features: Features, lfw_dir: Path, images: int, workers: int) -> DuplicateEvidence:
    """Copies of `images` random LFW photos against their originals, and every same-person pair of photos."""
    paths = random.Random(0).sample(list(features.paths), images)
    with mp.get_context("spawn").Pool(workers, initializer=lfw.init_worker) as pool:
        copies = list(tqdm(pool.imap(training_like_copy, paths, chunksize=8), total=len(paths), desc="copies"))
    original = features.vectors[features.rows(paths)]
    copy_cos = np.einsum("nd,nd->n", original, np.stack([v for v, _ in copies]))
    by_person: dict[str, list[int]] = defaultdict(list)
    for i, path in enumerate(features.paths):
        by_person[Path(path).parent.name].append(i)
    same = np.concatenate([(features.vectors[rows] @ features.vectors[rows].T)[np.triu_indices(len(rows), 1)]
                           for rows in by_person.values() if len(rows) > 1])
    stranger = _nearest_stranger(features, by_person)
    caught = [Caught(t, float((copy_cos >= t).mean()), float((same >= t).mean()), float((stranger >= t).mean()))
              for t in THRESHOLDS]
    return DuplicateEvidence(len(copy_cos), float(np.median(copy_cos)), len(same), len(stranger), caught)


def _nearest_stranger(features: Features, by_person: dict[str, list[int]]) -> np.ndarray:
    """For each photo, the highest cosine to a photo of anyone else, (N,)."""
    person = np.empty(len(features.paths), np.int64)
    for k, rows in enumerate(by_person.values()):
        person[rows] = k
    best = np.full(len(person), -1.0, np.float32)
    for start in range(0, len(person), 1024):
        sims = features.vectors[start:start + 1024] @ features.vectors.T
        sims[person[start:start + 1024, None] == person[None]] = -1.0
        best[start:start + 1024] = sims.max(axis=1)
    return best
