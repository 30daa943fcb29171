"""Images -> aligned crops -> unit feature vectors through the service's own pipeline (or any embed callable)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from service.vision.align import align_face, centred_landmarks
from service.vision.detector import CASCADE_VERSION
from service.vision.image_io import read_image
from service.vision.pipeline import FacePipeline
from training.evaluation.crop_cache import AlignedSet, cache_file, load_crops, save_crops
from training.evaluation.pairs import PairList
from training.evaluation.scored import ScoredVectors

EmbedCrops = Callable[[np.ndarray], np.ndarray]  # (N, 112, 96, 3) uint8 -> (N, D) unit vectors
POLICY = "centre"  # DESIGN.md "Which face": evaluation keeps the face nearest the image centre
BATCH = 64


@dataclass(frozen=True)
class Features(ScoredVectors):
    """One unit vector per unique image, and which images had no face (centre-crop fallback); pairs are scored
    by `scoring` (ScoredVectors)."""

    paths: tuple[str, ...]
    vectors: np.ndarray  # (N, D) float32
    fallback: np.ndarray  # (N,) bool

    @property
    def n_fallback(self) -> int:
        return int(self.fallback.sum())

    def rows(self, paths: Sequence[str | Path]) -> np.ndarray:
        index = {path: i for i, path in enumerate(self.paths)}
        return np.array([index[str(path)] for path in paths], dtype=np.int64)

    def pair_similarities(self, pairs: PairList) -> np.ndarray:
        """Each pair's score: the cosine (dot product of unit vectors) less its shifts under `scoring`."""
        rows_a, rows_b = self.rows(pairs.path_a), self.rows(pairs.path_b)
        cosine = np.einsum("nd,nd->n", self.vectors[rows_a], self.vectors[rows_b])
        return self.scoring.score(cosine, self.shifts[rows_a], self.shifts[rows_b])


def align_one(path: str, pipeline: FacePipeline) -> tuple[np.ndarray, bool]:
    """The aligned crop of the face nearest the centre, or the centre-crop fallback; True when it fell back."""
    rgb = read_image(path, pipeline.limits)
    faces = pipeline.align(rgb, POLICY)
    if faces:
        return faces[0].crop, False
    return align_face(rgb, centred_landmarks(*rgb.shape[:2])), True


def alignment_tag(pipeline: FacePipeline) -> str:
    """What the crops depend on besides the images, so a changed detector setting misses the cache."""
    d = pipeline.detector
    return (f"{POLICY};cascade={CASCADE_VERSION};min_face={d.min_face_size};thr={d.thresholds};factor={d.factor};"
            f"max_side={d.max_side}")


def align_images(
    paths: Sequence[str | Path], pipeline: FacePipeline, workers: int = 1, cache_dir: str | Path | None = None
) -> AlignedSet:
    """Decode, detect, choose "centre" and align each unique image once; reuse a cached .npz if present.

    `workers` > 1 runs images in threads: ONNX Runtime releases the GIL and the detector is thread-safe.
    """
    unique = list(dict.fromkeys(str(path) for path in paths))
    target = cache_file(cache_dir, unique, alignment_tag(pipeline)) if cache_dir is not None else None
    if target is not None and (cached := load_crops(target, unique)) is not None:
        return cached
    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(tqdm(pool.map(lambda p: align_one(p, pipeline), unique), total=len(unique),
                            desc="align", unit="img"))
    aligned = AlignedSet(
        tuple(unique),
        np.stack([crop for crop, _ in results]) if results else np.zeros((0, 112, 96, 3), np.uint8),
        np.array([fell_back for _, fell_back in results], dtype=bool),
    )
    if target is not None:
        save_crops(target, aligned)
    return aligned


def embed_aligned(aligned: AlignedSet, embed_crops: EmbedCrops, batch: int = BATCH) -> Features:
    """Embed cached crops with any callable: the served ONNX embedder or a network being trained."""
    chunks = [embed_crops(aligned.crops[i:i + batch])
              for i in tqdm(range(0, len(aligned.crops), batch), desc="embed", unit="batch")]
    vectors = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros((0, 0), np.float32)
    return Features(aligned.paths, vectors, aligned.fallback)


def embed_images(
    paths: Sequence[str | Path], pipeline: FacePipeline, workers: int = 1, cache_dir: str | Path | None = None
) -> Features:
    """The whole serving path: align_images then the pipeline's ONNX embedder (orig+flip, 1024-D)."""
    if pipeline.embedder is None:
        raise ValueError("the pipeline has no embedder; build it with with_embedder=True")
    return embed_aligned(align_images(paths, pipeline, workers, cache_dir), pipeline.embedder.embed)
