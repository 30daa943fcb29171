"""Faces cut by the image border: crops past the edge are zero-padded, so landmarks and embeddings hold."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from service.config import Settings
from service.vision.detector import DetectedFace
from service.vision.model_card import load_model_card
from service.vision.pipeline import FacePipeline
from tests.conftest import lfw_image

# (person, photo cut, another photo of the person)
PHOTOS = (("Aaron_Peirsol", 1, 3), ("Colin_Powell", 40, 49), ("Serena_Williams", 1, 3), ("Abdullah_Gul", 1, 6),
          ("Jennifer_Garner", 1, 3))
CUTS = ("below_mouth", "left_side", "right_side", "top")
LANDMARK_TOLERANCE = 0.06  # of the face box side: ~6 px on LFW's ~100 px faces; unpadded crops were off 10-75 px


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline.from_settings(Settings())


def largest(faces: list[DetectedFace]) -> DetectedFace:
    assert faces, "no face found"
    return max(faces, key=lambda face: face.area)


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def cut_window(face: DetectedFace, cut: str) -> tuple[slice, slice]:
    """(rows, cols) of the 250x250 photo kept by `cut`, which runs through the face."""
    (lx, ly), (rx, ry), _, (_, lmy), (_, rmy) = face.landmarks
    windows = {
        "below_mouth": (slice(0, int(max(lmy, rmy)) + 12), slice(None)),  # 12 px below the mouth
        "left_side": (slice(None), slice(int(lx) - 10, None)),  # through the outer half of the left eye socket
        "right_side": (slice(None), slice(0, int(rx) + 10)),
        "top": (slice(int(min(ly, ry)) - 20, None), slice(None)),  # through the forehead
    }
    return windows[cut]


def cut_and_padded(rgb: np.ndarray, window: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cut photo, the same pixels zero-padded back to the full size, and the cut's (x, y) offset in it."""
    cut = np.ascontiguousarray(rgb[window])
    padded = np.zeros_like(rgb)
    padded[window] = cut
    rows, cols = window
    return cut, padded, np.array([cols.start or 0, rows.start or 0], np.float32)


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("photo", PHOTOS, ids=[name for name, _, _ in PHOTOS])
def test_landmarks_of_a_cut_face_match_the_padded_photo(
    pipeline: FacePipeline, photo: tuple[str, int, int], cut: str
) -> None:
    rgb = read_rgb(lfw_image(photo[0], photo[1]))
    whole = largest(pipeline.detector.detect(rgb))
    image, padded, offset = cut_and_padded(rgb, cut_window(whole, cut))
    on_cut, on_padded = largest(pipeline.detector.detect(image)), largest(pipeline.detector.detect(padded))
    x1, y1, x2, y2 = on_padded.box
    error = float(np.abs(on_cut.landmarks + offset - on_padded.landmarks).max())
    assert error <= LANDMARK_TOLERANCE * min(x2 - x1, y2 - y1), error


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("photo", PHOTOS[:3], ids=[name for name, _, _ in PHOTOS[:3]])
def test_cut_face_verifies_against_another_photo(pipeline: FacePipeline, photo: tuple[str, int, int], cut: str) -> None:
    """The cut photo matches another photo of the person at the card's verify threshold, as the padded one does
    (scored as /verify scores two photos)."""
    threshold = load_model_card(Settings().embedder_dir).thresholds.best_accuracy
    name, number, other = photo
    rgb = read_rgb(lfw_image(name, number))
    whole = largest(pipeline.detector.detect(rgb))
    image, padded, _ = cut_and_padded(rgb, cut_window(whole, cut))
    reference = pipeline.embed(read_rgb(lfw_image(name, other)))[0].embedding
    score = {kind: pipeline.embedder.scoring.pair(pipeline.embed(x)[0].embedding, reference)[1]
             for kind, x in (("cut", image), ("padded", padded))}
    assert score["padded"] >= threshold  # the photo pair itself is a match
    assert score["cut"] >= threshold, score
