"""The teacher path on real LFW photos: loose crop geometry, box mapping, and dlib's descriptor telling people apart."""

from __future__ import annotations

import numpy as np
import pytest

from service.config import Settings
from service.vision.image_io import read_image
from service.vision.pipeline import FacePipeline
from tests.conftest import DATA_DIR
from training.distill.teacher import (
    LOOSE_SCALE,
    LOOSE_SIZE,
    MTCNN_TO_DLIB,
    TEACHER_DIM,
    DlibTeacher,
    TeacherFiles,
    dlib_box,
    loose_crop,
)

LFW = DATA_DIR / "lfw" / "lfw-deepfunneled"
PHOTOS = {  # two people, two photos each
    "a1": LFW / "Colin_Powell" / "Colin_Powell_0040.jpg", "a2": LFW / "Colin_Powell" / "Colin_Powell_0049.jpg",
    "b1": LFW / "Serena_Williams" / "Serena_Williams_0001.jpg",
    "b2": LFW / "Serena_Williams" / "Serena_Williams_0003.jpg",
}


@pytest.fixture(scope="module")
def teacher() -> DlibTeacher:
    return DlibTeacher()


@pytest.fixture(scope="module")
def faces() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each photo with the MTCNN box of its face nearest the centre."""
    pipeline = FacePipeline.from_settings(Settings(), with_embedder=False)
    out = {}
    for key, path in PHOTOS.items():
        rgb = read_image(path)
        out[key] = rgb, pipeline.align(rgb, "centre")[0].face.box
    return out


def test_loose_crop_centres_the_box_and_pads_black() -> None:
    rgb = np.full((100, 100, 3), 200, np.uint8)
    crop, box = loose_crop(rgb, np.array([10, 20, 50, 60], np.float32))  # a 40 px box at the top left
    side = LOOSE_SIZE / LOOSE_SCALE
    np.testing.assert_allclose(box, [(LOOSE_SIZE - side) / 2, (LOOSE_SIZE - side) / 2,
                                     (LOOSE_SIZE + side) / 2, (LOOSE_SIZE + side) / 2], atol=1e-4)
    assert crop.shape == (LOOSE_SIZE, LOOSE_SIZE, 3) and crop.dtype == np.uint8
    assert (crop[0, 0] == 0).all() and (crop[LOOSE_SIZE // 2, LOOSE_SIZE // 2] == 200).all()


def test_dlib_box_follows_the_measured_map() -> None:
    dx, dy, sw, sh = MTCNN_TO_DLIB
    left, top, right, bottom = dlib_box(np.array([100, 100, 200, 240], np.float32))
    assert (right - left, bottom - top) == pytest.approx((100 * sw, 140 * sh), abs=1)
    assert ((left + right) / 2, (top + bottom) / 2) == pytest.approx((150 + 100 * dx, 170 + 140 * dy), abs=1)


def test_teacher_files_are_the_cc0_five_point_models() -> None:
    files = TeacherFiles.installed()
    assert files.predictor.name == "shape_predictor_5_face_landmarks.dat"  # never the 68-point one
    assert all(len(digest) == 64 for digest in files.sha256().values())


def test_teacher_tells_people_apart_through_the_loose_crop(teacher: DlibTeacher, faces: dict) -> None:
    loose = {key: loose_crop(rgb, box) for key, (rgb, box) in faces.items()}
    vectors = {key: teacher.embed(crop[None], box[None])[0] for key, (crop, box) in loose.items()}
    assert all(v.shape == (TEACHER_DIM,) and abs(np.linalg.norm(v) - 1) < 1e-5 for v in vectors.values())
    same = [vectors["a1"] @ vectors["a2"], vectors["b1"] @ vectors["b2"]]
    different = [vectors[a] @ vectors[b] for a in ("a1", "a2") for b in ("b1", "b2")]
    assert min(same) > max(different) + 0.05
    # the loose crop loses nothing that matters: the same face straight from the photo agrees
    rgb, box = faces["a1"]
    assert teacher.embed(rgb[None], box[None])[0] @ vectors["a1"] > 0.97


def test_lfw_vectors_from_the_photo_agree_with_the_loose_crop_and_are_cached_apart(tmp_path) -> None:
    from training.distill.lfw import teacher_features
    from training.distill.teacher import PHOTO

    paths = [str(path) for path in PHOTOS.values()]
    cache = tmp_path / "teacher.npz"
    loose = teacher_features(paths, workers=1, cache=cache)
    photo = teacher_features(paths, workers=1, cache=cache, source=PHOTO)  # the loose cache is not reused
    assert photo.vectors.shape == (len(paths), TEACHER_DIM) and not photo.fallback.any()
    agreement = np.sum(photo.vectors * loose.vectors, axis=1)
    assert (agreement > 0.95).all() and (agreement < 1 - 1e-6).any()  # the same faces, cut at another resolution
    np.testing.assert_array_equal(teacher_features(paths, workers=1, cache=cache, source=PHOTO).vectors,
                                  photo.vectors)


def test_hog_box_is_dlibs_own_detection_of_the_same_face(teacher: DlibTeacher, faces: dict) -> None:
    from training.distill.teacher import _iou

    for rgb, box in faces.values():
        rect, mapped = teacher.hog_rect(rgb, box), dlib_box(box)
        assert rect != mapped and _iou(rect, mapped) > 0.5  # found by HOG, where the measured map puts it
        vector = teacher.embed_in_rects(rgb, [rect])[0]
        assert abs(np.linalg.norm(vector) - 1) < 1e-5 and vector @ teacher.embed(rgb[None], box[None])[0] > 0.95
    blank = np.zeros((200, 200, 3), np.uint8)  # no face for HOG: the mapped MTCNN box is kept
    assert teacher.hog_rect(blank, np.array([50, 50, 150, 150], np.float32)) == dlib_box(np.array([50, 50, 150, 150]))
