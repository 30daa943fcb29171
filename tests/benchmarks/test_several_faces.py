"""The measurement behind the enrolment rule's cut: per-photo records on real LFW photos, and the summary."""

from __future__ import annotations

import pytest

from benchmarks.several_faces import photo_record, summary
from service.config import Settings
from service.vision.face_choice import SIMILAR_AREA_RATIO
from service.vision.pipeline import FacePipeline
from tests.conftest import lfw_image


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline.from_settings(Settings(), with_embedder=False)


def test_a_record_measures_the_two_largest_faces_and_tells_whether_the_largest_is_the_centred_one(pipeline):
    boxer = photo_record(pipeline, lfw_image("Barbara_Boxer", 1))  # a larger face at the edge, hers at the centre
    assert boxer["faces"] == 2 and boxer["ratio"] >= SIMILAR_AREA_RATIO and not boxer["largest_is_labelled"]
    crystal = photo_record(pipeline, lfw_image("Billy_Crystal", 5))  # a small passer-by behind him
    assert crystal["ratio"] < SIMILAR_AREA_RATIO and crystal["largest_is_labelled"]
    assert photo_record(pipeline, lfw_image("Hans_Blix", 7)) is None  # one face


def test_the_summary_splits_the_photos_at_the_cut():
    below, at = SIMILAR_AREA_RATIO - 0.05, SIMILAR_AREA_RATIO
    records = [
        {"photo": "a.jpg", "faces": 2, "ratio": below, "largest_is_labelled": True},
        {"photo": "b.jpg", "faces": 2, "ratio": at, "largest_is_labelled": True},
        {"photo": "c.jpg", "faces": 3, "ratio": 0.95, "largest_is_labelled": False},
        {"photo": "d.jpg", "faces": 2, "ratio": 1.0, "largest_is_labelled": False},
    ]
    result = summary(10, records)
    assert (result["enrolled"], result["enrolled_wrong_person"]) == (1, 0)
    assert (result["refused"], result["refused_largest_wrong_person"]) == (3, 2)
    assert result["lowest_ratio_largest_wrong_person"]["photo"] == "c.jpg"
    assert sum(row["photos"] for row in result["table"]) == len(records)  # a ratio of exactly 1 is counted too
    assert result["table"][-1] == {"ratio": "0.9–1.0", "photos": 2, "largest_not_labelled": 2}
