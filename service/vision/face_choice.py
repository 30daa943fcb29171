"""Which detected face(s) a request uses: the largest, the one nearest the centre, or all."""

from __future__ import annotations

import numpy as np

from service.config import FacePolicy
from service.vision.detector import DetectedFace


def choose_faces(faces: list[DetectedFace], policy: FacePolicy, image_shape: tuple[int, ...]) -> list[DetectedFace]:
    """Apply a face policy; returns at most one face unless the policy is "all" (then all, as given)."""
    if not faces or policy == "all":
        return list(faces)
    if policy == "largest":
        return [max(faces, key=lambda face: face.area)]
    centre = np.array([image_shape[1] / 2, image_shape[0] / 2])
    return [min(faces, key=lambda face: float(np.linalg.norm(_box_centre(face) - centre)))]


def _box_centre(face: DetectedFace) -> np.ndarray:
    x1, y1, x2, y2 = face.box
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2])
