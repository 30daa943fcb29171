"""Small faces in large photos: every face of at least FACEVER_MIN_FACE_SIZE px is found at the default settings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from service.config import Settings
from service.vision.detector import DetectedFace, MTCNNDetector
from tests.conftest import lfw_image

PHOTO_W, PHOTO_H = 4032, 3024  # a 12 MP phone photo
PHOTOS = (("Aaron_Peirsol", 1), ("Hans_Blix", 7))  # (LFW person, photo number)


@pytest.fixture(scope="module")
def detector() -> MTCNNDetector:
    return MTCNNDetector.from_settings(Settings())


@pytest.fixture(scope="module")
def background() -> np.ndarray:
    """A faceless 12 MP texture: blurred noise, so the detector has something to look at everywhere."""
    noise = np.random.default_rng(0).integers(0, 256, (PHOTO_H, PHOTO_W, 3), dtype=np.uint8)
    return cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 8), None, 60, 200, cv2.NORM_MINMAX)


def lfw_rgb(name: str, number: int) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(lfw_image(name, number)), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def face_side(face: DetectedFace) -> float:
    x1, y1, x2, y2 = (float(v) for v in face.box)
    return min(x2 - x1, y2 - y1)


@pytest.mark.parametrize("photo", PHOTOS, ids=[name for name, _ in PHOTOS])
@pytest.mark.parametrize("side", [66, "min_face_size"])
def test_small_face_in_12mp_photo_is_found(
    detector: MTCNNDetector, background: np.ndarray, photo: tuple[str, int], side: int | str
) -> None:
    """The LFW photo shrunk so its face box is `side` px, pasted into the photo: found, where it was put."""
    target = detector.min_face_size if side == "min_face_size" else int(side)
    rgb = lfw_rgb(*photo)
    (face,) = detector.detect(rgb)
    k = target / face_side(face)
    small = cv2.resize(rgb, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    x, y = 2500, 1800
    photo = background.copy()
    photo[y:y + small.shape[0], x:x + small.shape[1]] = small
    assert detector.detection_scale(PHOTO_H, PHOTO_W) < 1.0  # the photo is still shrunk for detection
    found = detector.detect(photo)
    assert len(found) == 1, [f.box for f in found]
    expected = face.landmarks * k + np.array([x, y], np.float32)
    assert np.abs(found[0].landmarks - expected).max() <= max(2.0, 0.08 * target)
    assert face_side(found[0]) == pytest.approx(target, rel=0.2)


def test_shrink_is_bounded_by_the_minimum_face(detector: MTCNNDetector) -> None:
    """Towards max_side, but a min_face_size face stays at least one 12 px P-Net cell."""
    assert detector.detection_scale(1000, 800) == 1.0
    assert detector.detection_scale(2048, 1536) == pytest.approx(detector.max_side / 2048)
    assert detector.detection_scale(PHOTO_H, PHOTO_W) == pytest.approx(12 / detector.min_face_size)
