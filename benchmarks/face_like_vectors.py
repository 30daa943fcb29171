"""Gallery vectors with the statistics of real face embeddings: a two-covariance Gaussian fitted to LFW.

Random unit vectors have no identity structure, so they understate what IVF/HNSW can do with a real gallery.
Here each identity has a centre drawn from the between-identity Gaussian fitted to the shipped model's LFW
embeddings, and each face is that centre plus within-identity noise from the pooled within-person covariance
(the generative model of PLDA), L2-normalised as the service stores them. A query is a fresh face of an
enrolled identity, as a probe of /v1/identify is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

CHUNK = 50_000


@dataclass(frozen=True)
class TwoCovariance:
    mean: np.ndarray  # (D,)
    between: np.ndarray  # (D, D) square root of the identity-centre covariance
    within: np.ndarray  # (D, D) square root of the pooled within-identity covariance

    def sample(self, identities: int, per_identity: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(faces (identities·per_identity, D) unit rows, their identity labels, the centres)."""
        rng = np.random.default_rng(seed)
        dim = len(self.mean)
        centres = (self.mean + rng.standard_normal((identities, dim), dtype=np.float32) @ self.between).astype(
            np.float32
        )
        labels = np.repeat(np.arange(identities), per_identity)
        return self.faces_of(centres, labels, rng), labels, centres

    def faces_of(self, centres: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One new face per label: its identity's centre plus within-identity noise, L2-normalised."""
        out = np.empty((len(labels), len(self.mean)), np.float32)
        for start in tqdm(range(0, len(labels), CHUNK), desc="sample faces", unit="chunk", leave=False):
            part = labels[start : start + CHUNK]
            noise = rng.standard_normal((len(part), len(self.mean)), dtype=np.float32) @ self.within
            x = centres[part] + noise
            out[start : start + len(part)] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out


def calibrate_within(model: TwoCovariance, target_same_mean: float, seed: int = 0) -> TwoCovariance:
    """Scale the within-identity noise so sampled same-person pairs have the real mean cosine.

    The Gaussian has lighter tails than real embeddings (pose, blur, bad crops), so the fitted noise alone
    makes same-person pairs too similar; matching their mean cosine keeps queries as far from their
    identity as real probes are.
    """
    low, high = 0.25, 4.0
    for _ in range(20):  # bisection: the mean cosine falls as the noise grows
        scale = (low + high) / 2
        trial = TwoCovariance(model.mean, model.between, model.within * np.float32(scale))
        faces, _, _ = trial.sample(2000, 2, seed)  # rows 2i and 2i+1 share an identity
        same = float(np.einsum("ij,ij->i", faces[0::2], faces[1::2]).mean())
        low, high = (scale, high) if same > target_same_mean else (low, scale)
    return TwoCovariance(model.mean, model.between, model.within * np.float32((low + high) / 2))


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    """A matrix R with R.T @ R = cov (so z @ R ~ N(0, cov) for white row vectors z); negative eigenvalues clipped."""
    values, vectors = np.linalg.eigh(cov)
    return (vectors * np.sqrt(np.clip(values, 0, None))).T.astype(np.float32)


def fit(vectors: np.ndarray, labels: np.ndarray) -> TwoCovariance:
    """Between- and within-identity covariances of labelled embeddings (people with one image count only in between)."""
    vectors = vectors.astype(np.float64)
    people, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    centres = np.zeros((len(people), vectors.shape[1]))
    np.add.at(centres, inverse, vectors)
    centres /= counts[:, None]
    shared = counts[inverse] > 1
    deviations = vectors[shared] - centres[inverse[shared]]
    dof = int(shared.sum()) - int((counts > 1).sum())
    within = deviations.T @ deviations / max(dof, 1)
    between = np.cov(centres, rowvar=False)
    return TwoCovariance(centres.mean(axis=0).astype(np.float32), _sqrt_psd(between), _sqrt_psd(within))


def lfw_embeddings(lfw_dir: Path, cache: Path, crops_dir: Path, workers: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The shipped model's 1024-D embeddings of every LFW image here and each one's person (folder name), cached."""
    if cache.exists():
        saved = np.load(cache)
        return saved["vectors"], saved["people"]
    from service.config import Settings
    from service.vision.pipeline import FacePipeline
    from training.evaluation import embed_images

    paths = sorted((lfw_dir / "lfw-deepfunneled").glob("*/*.jpg"))
    features = embed_images(paths, FacePipeline.from_settings(Settings()), workers, crops_dir)
    vectors, people = features.vectors[features.rows([str(p) for p in paths])], np.array([p.parent.name for p in paths])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=vectors, people=people)
    return vectors, people


def cosine_stats(vectors: np.ndarray, labels: np.ndarray, pairs: int, seed: int) -> dict[str, float]:
    """Mean cosine of random same-identity and different-identity pairs: the check that samples look real."""
    rng = np.random.default_rng(seed)
    order = np.argsort(labels, kind="stable")
    _, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
    multi = np.flatnonzero(counts > 1)
    pick = rng.choice(multi, pairs)
    first = rng.integers(0, counts[pick])
    second = (first + rng.integers(1, counts[pick])) % counts[pick]  # another image of the same person
    a, b = order[starts[pick] + first], order[starts[pick] + second]
    i, j = rng.integers(0, len(vectors), (2, pairs))
    different = labels[i] != labels[j]
    same_cos = np.einsum("ij,ij->i", vectors[a], vectors[b])
    diff_cos = np.einsum("ij,ij->i", vectors[i[different]], vectors[j[different]])
    return {"same_mean": float(same_cos.mean()), "same_std": float(same_cos.std()),
            "different_mean": float(diff_cos.mean()), "different_std": float(diff_cos.std())}  # fmt: skip
