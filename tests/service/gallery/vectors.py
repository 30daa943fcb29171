"""Random unit vectors shaped like a gallery: identities as clusters of faces."""

from __future__ import annotations

import hashlib

import numpy as np

from service.gallery.repository import NewFace


def unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)


def clusters(
    rng: np.random.Generator, identities: int, faces: int, dim: int, spread: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """(centres (identities, dim), faces (identities, faces, dim)), all unit vectors."""
    centres = unit(rng.normal(size=(identities, dim)))
    noise = rng.normal(scale=spread, size=(identities, faces, dim))
    return centres, unit(centres[:, None, :] + noise)


def new_face(embedding: np.ndarray, tag: str = "") -> NewFace:
    """A NewFace whose image hash is derived from the embedding (and `tag`)."""
    sha = hashlib.sha256(np.asarray(embedding, np.float32).tobytes() + tag.encode()).hexdigest()
    box = [10.0, 20.0, 110.0, 140.0]
    landmarks = [[30.0, 50.0], [65.0, 50.0], [48.0, 70.0], [33.0, 92.0], [62.0, 92.0]]
    return NewFace(embedding, 0.99, box, landmarks, b"\xff\xd8jpeg", sha)
