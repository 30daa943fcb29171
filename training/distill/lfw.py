"""The teacher on LFW through exactly its training path: MTCNN box -> loose crop -> dlib 5 points -> chip -> 128-D.

Gives the teacher's own row (10-fold LFW pairs) and its embedding of every LFW image, which the
near-duplicate search (`training.distill.overlap`) compares training faces against. Two other sources measure
the path's choices: PHOTO cuts dlib's chip from the photo itself rather than from the loose crop (LOOSE_SIZE
pixels for twice the box, so a large face loses resolution there), and HOG does so inside the box of dlib's own
HOG detector where it finds the face, instead of the MTCNN box mapped to that detector's convention.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
from tqdm import tqdm

from service.config import Settings
from service.vision.detector import CASCADE_VERSION
from service.vision.face_choice import choose_faces
from service.vision.image_io import read_image
from service.vision.pipeline import FacePipeline
from training.distill.teacher import (
    HOG,
    LOOSE,
    LOOSE_SCALE,
    LOOSE_SIZE,
    MTCNN_TO_DLIB,
    PHOTO,
    DlibTeacher,
    TeacherFiles,
    loose_crop,
)
from training.evaluation.features import POLICY, Features

CHUNK = 16
_STATE: tuple[FacePipeline, DlibTeacher, str] | None = None  # per worker process: + the source


def centre_box(height: int, width: int) -> np.ndarray:
    """The fallback face box of an image without a detected face: its central half, as the evaluation's crop."""
    return np.array([width / 4, height / 4, 3 * width / 4, 3 * height / 4], np.float32)


def init_worker(source: str = LOOSE) -> None:
    """Build this process's detector and teacher (a process pool's initializer)."""
    global _STATE
    _STATE = FacePipeline.from_settings(Settings(threads=1), with_embedder=False), DlibTeacher(), source


def teacher_vector(path: str) -> tuple[np.ndarray, bool]:
    """The teacher's unit 128-D vector of the image file's face nearest the centre; True when none was found."""
    assert _STATE is not None, "worker not initialised"
    return vector_of(read_image(path, _STATE[0].limits))


def vector_of(rgb: np.ndarray) -> tuple[np.ndarray, bool]:
    """The teacher's unit 128-D vector of the face nearest the image centre; True when no face was found."""
    assert _STATE is not None, "worker not initialised"
    pipeline, teacher, source = _STATE
    faces = choose_faces(pipeline.detector.detect(rgb), POLICY, rgb.shape)
    box = np.asarray(faces[0].box if faces else centre_box(*rgb.shape[:2]), np.float32)
    if source == HOG:
        return teacher.embed_in_rects(rgb, [teacher.hog_rect(rgb, box)])[0], not faces
    if source == PHOTO:
        return teacher.embed(rgb[None], box[None])[0], not faces
    loose, loose_box = loose_crop(rgb, box)
    return teacher.embed(loose[None], loose_box[None])[0], not faces


def teacher_features(paths: list[str], workers: int = 2, cache: Path | None = None,
                     source: str = LOOSE) -> Features:
    """Teacher vectors of `paths` (unique, in order) in `workers` processes; cached in `cache` (.npz) by paths,
    the teacher files' sha256, the detector's cascade version and the teacher path's constants, so any change
    recomputes."""
    tag = repr((sorted(TeacherFiles.installed().sha256().items()), CASCADE_VERSION, LOOSE_SIZE, LOOSE_SCALE,
                MTCNN_TO_DLIB)) + ("" if source == LOOSE else f" {source}")
    if cache is not None and cache.exists():
        with np.load(cache) as stored:
            if list(stored["paths"]) == paths and str(stored["tag"]) == tag:
                return Features(tuple(paths), stored["vectors"], stored["fallback"])
    with mp.get_context("spawn").Pool(workers, initializer=init_worker, initargs=(source,)) as pool:
        results = list(tqdm(pool.imap(teacher_vector, paths, chunksize=CHUNK), total=len(paths),
                            desc="teacher", unit="img"))
    features = Features(tuple(paths), np.stack([v for v, _ in results]), np.array([f for _, f in results]))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, paths=np.array(paths), tag=np.array(tag), vectors=features.vectors,
                 fallback=features.fallback)
    return features
