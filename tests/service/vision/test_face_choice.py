"""Face policies: largest, nearest the centre, all."""

from __future__ import annotations

import numpy as np
import pytest

from service.vision.detector import DetectedFace
from service.vision.face_choice import choose_faces


def _face(x1: float, y1: float, x2: float, y2: float, score: float = 0.99) -> DetectedFace:
    return DetectedFace(np.array([x1, y1, x2, y2], np.float32), score, np.zeros((5, 2), np.float32))


SHAPE = (400, 600, 3)  # height 400, width 600: centre (300, 200)
BIG_CORNER = _face(0, 0, 200, 200)
SMALL_CENTRE = _face(280, 180, 320, 220)
MEDIUM = _face(400, 250, 500, 350, score=0.999)


@pytest.mark.parametrize(
    "policy, expected",
    [("largest", [BIG_CORNER]), ("centre", [SMALL_CENTRE]), ("all", [BIG_CORNER, SMALL_CENTRE, MEDIUM])],
)
def test_policy_picks_the_expected_faces(policy, expected):
    assert choose_faces([BIG_CORNER, SMALL_CENTRE, MEDIUM], policy, SHAPE) == expected


@pytest.mark.parametrize("policy", ["largest", "centre", "all"])
def test_no_faces_gives_no_faces(policy):
    assert choose_faces([], policy, SHAPE) == []
