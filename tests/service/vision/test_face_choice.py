"""Face policies (largest, nearest the centre, all) and the enrolment rule for several faces."""

from __future__ import annotations

import numpy as np
import pytest

from service.errors import ErrorCode, FaceverError
from service.vision.detector import DetectedFace
from service.vision.face_choice import SIMILAR_AREA_RATIO, choose_faces, enrolment_face


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


def _share_of_largest(share: float, x: float) -> DetectedFace:
    """A box at `x` with `share` of the area of LARGEST (100 px wide, so the heights are exact)."""
    return _face(x, 0, x + 100, 100 * share)


LARGEST = _share_of_largest(1.0, 0)


def test_enrolment_takes_the_largest_and_lists_the_clearly_smaller_faces_largest_first():
    smaller = [_share_of_largest(SIMILAR_AREA_RATIO * 0.9, 200), _share_of_largest(0.1, 400)]
    chosen = enrolment_face([smaller[1], LARGEST, smaller[0]])
    assert chosen.face is LARGEST and chosen.ignored == smaller
    alone = enrolment_face([LARGEST])
    assert alone.face is LARGEST and alone.ignored == []


def test_enrolment_refuses_a_second_face_of_similar_size_unless_forced():
    similar = _share_of_largest(SIMILAR_AREA_RATIO, 200)  # the cut itself is ambiguous
    with pytest.raises(FaceverError) as refused:
        enrolment_face([similar, LARGEST])
    assert refused.value.code == ErrorCode.multiple_faces
    assert f"2 faces were found, the second-largest with {SIMILAR_AREA_RATIO:.0%}" in refused.value.message
    forced = enrolment_face([similar, LARGEST], pick_largest=True)
    assert forced.face is LARGEST and forced.ignored == [similar]
