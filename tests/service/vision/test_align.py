"""The alignment contract: template fixed point, recovery of a known similarity, the centre fallback."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from service.vision.align import CROP_HEIGHT, CROP_WIDTH, TEMPLATE, align_face, centred_landmarks, similarity_transform
from service.vision.image_io import read_image
from tests.conftest import lfw_image


def _similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    """A 2x3 rotation + uniform scale + translation."""
    theta = np.deg2rad(angle_deg)
    rotation = scale * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return np.hstack([rotation, np.array(shift)[:, None]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def test_template_points_map_to_themselves():
    matrix = similarity_transform(TEMPLATE)
    np.testing.assert_allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-6)


def test_template_landmarks_crop_the_top_left_corner():
    rgb = np.random.default_rng(0).integers(0, 256, (200, 180, 3), dtype=np.uint8)
    crop = align_face(rgb, TEMPLATE)
    assert crop.shape == (CROP_HEIGHT, CROP_WIDTH, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, rgb[:CROP_HEIGHT, :CROP_WIDTH])


@pytest.mark.parametrize("angle, scale, shift", [(25, 1.6, (80, 40)), (-40, 2.5, (120, 90)), (0, 0.7, (10, 5))])
def test_rotated_and_scaled_landmarks_map_back_to_template(angle, scale, shift):
    landmarks = _apply(_similarity(angle, scale, shift), TEMPLATE)
    landmarks += np.random.default_rng(1).normal(0, 0.2, landmarks.shape)  # detector-like jitter
    mapped = _apply(similarity_transform(landmarks), landmarks)
    assert np.abs(mapped - TEMPLATE).max() < 0.5


def test_real_face_warped_by_a_similarity_aligns_to_the_same_crop():
    rgb = read_image(lfw_image("Aaron_Peirsol", 1))
    # landmarks of this photo as MTCNN finds them (left eye, right eye, nose, mouth corners)
    landmarks = np.array([[103.0, 112.8], [145.4, 112.0], [127.2, 142.3], [105.5, 157.4], [148.2, 155.3]])
    warp = _similarity(30, 1.4, (60, -40))
    warped = cv2.warpAffine(rgb, warp, (400, 400), flags=cv2.INTER_LINEAR)
    original_crop = align_face(rgb, landmarks).astype(np.float32)
    warped_crop = align_face(warped, _apply(warp, landmarks)).astype(np.float32)
    # two bilinear resamplings blur a little; a misplaced crop would differ by tens of levels
    assert np.abs(original_crop - warped_crop).mean() < 6.0


def test_degenerate_landmarks_are_refused():
    with pytest.raises(ValueError):
        similarity_transform(np.zeros((5, 2)))


@pytest.mark.parametrize("height, width", [(250, 250), (128, 128), (480, 640)])
def test_centre_fallback_is_centred_inside_the_image(height, width):
    points = centred_landmarks(height, width)
    assert points[:, 0].min() > 0 and points[:, 0].max() < width
    assert points[:, 1].min() > 0 and points[:, 1].max() < height
    # the fallback box (template box scaled) is centred: its midpoint is the image centre
    matrix = similarity_transform(points)
    inverse = cv2.invertAffineTransform(matrix)
    box_centre = _apply(inverse, np.array([[CROP_WIDTH / 2, CROP_HEIGHT / 2]]))[0]
    np.testing.assert_allclose(box_centre, [width / 2, height / 2], atol=1e-3)
