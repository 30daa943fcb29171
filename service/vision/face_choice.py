"""Which detected face(s) a request uses: the largest, the one nearest the centre, or all; and which one enrols."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.config import FacePolicy
from service.errors import ErrorCode, FaceverError
from service.vision.detector import DetectedFace

# A second face with at least this share of the largest face's box area makes the choice ambiguous. On LFW the
# largest face was the photo's own person in every photo under 0.5, not always above (benchmarks/several_faces.py)
SIMILAR_AREA_RATIO = 0.5


def choose_faces(faces: list[DetectedFace], policy: FacePolicy, image_shape: tuple[int, ...]) -> list[DetectedFace]:
    """Apply a face policy; returns at most one face unless the policy is "all" (then all, as given)."""
    if not faces or policy == "all":
        return list(faces)
    if policy == "largest":
        return [max(faces, key=lambda face: face.area)]
    centre = np.array([image_shape[1] / 2, image_shape[0] / 2])
    return [min(faces, key=lambda face: float(np.linalg.norm(_box_centre(face) - centre)))]


@dataclass(frozen=True)
class EnrolmentFace:
    """The face an image enrols and the other usable faces it leaves out, largest first."""

    face: DetectedFace
    ignored: list[DetectedFace]


def enrolment_face(faces: list[DetectedFace], pick_largest: bool = False) -> EnrolmentFace:
    """The face an image enrols, among its faces that passed the quality gate (at least one): the largest.

    Raises multiple_faces when the second-largest face's box area is at least SIMILAR_AREA_RATIO of the
    largest's, since which person the image is of is then ambiguous, unless `pick_largest` forces the largest.
    Every enrolment path (API, command line) applies this rule.
    """
    largest, *ignored = sorted(faces, key=lambda face: face.area, reverse=True)
    ratio = ignored[0].area / largest.area if ignored and largest.area > 0 else 0.0
    if ratio >= SIMILAR_AREA_RATIO and not pick_largest:
        raise FaceverError(
            ErrorCode.multiple_faces,
            f"{len(faces)} faces were found, the second-largest with {ratio:.0%} of the largest's area: at "
            f"{SIMILAR_AREA_RATIO:.0%} or more, which person the image is of is ambiguous",
        )
    return EnrolmentFace(largest, ignored)


def _box_centre(face: DetectedFace) -> np.ndarray:
    x1, y1, x2, y2 = face.box
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2])
