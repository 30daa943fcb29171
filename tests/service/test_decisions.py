"""FAR-named thresholds: interpolation in FAR and in template size, extension beyond the grid, open-set factors."""

from __future__ import annotations

import math

import pytest

from service.decisions import comparison_far, identify_decision, threshold_at, verify_decision
from service.errors import ErrorCode, FaceverError
from service.vision.model_card import Calibration, FarCurve, ModelCard, OpenSetCurve, Thresholds

ONE = FarCurve(faces=1, far=[1e-1, 1e-2, 1e-3], threshold=[0.2, 0.4, 0.5], impostor_scores=10_000)
FOUR = FarCurve(faces=4, far=[1e-1, 1e-2, 1e-3], threshold=[0.3, 0.5, 0.6], impostor_scores=10_000)
CALIBRATION = Calibration(curves=[ONE, FOUR], default_far=1e-2, calibrated_on="test")


def _card(calibration: Calibration | None = CALIBRATION) -> ModelCard:
    return ModelCard(name="m", version="1", onnx_sha256="0" * 64, calibration=calibration,
                     thresholds=Thresholds(best_accuracy=0.3, far_1e_3=0.45))


def test_grid_points_are_returned_exactly() -> None:
    assert threshold_at(CALIBRATION, 1e-2, 1) == 0.4
    assert threshold_at(CALIBRATION, 1e-3, 4) == 0.6


def test_far_is_interpolated_in_log10() -> None:
    assert threshold_at(CALIBRATION, 10**-2.5, 1) == pytest.approx(0.45)


def test_below_the_grid_the_last_segment_is_extended() -> None:
    assert threshold_at(CALIBRATION, 1e-4, 1) == pytest.approx(0.6)  # 0.1 per decade, as from 1e-2 to 1e-3
    assert threshold_at(CALIBRATION, 1e-12, 1) == 1.0  # never above the largest cosine


def test_template_size_is_interpolated_in_ln_n_and_extended_past_the_last() -> None:
    assert threshold_at(CALIBRATION, 1e-2, 2) == pytest.approx(0.45)  # ln 2 is half of ln 4
    assert threshold_at(CALIBRATION, 1e-2, 16) == pytest.approx(0.6)  # ln 16 = 2 ln 4


# curves that cross below 1e-3, as measured ones do where few impostor scores remain: the 10-face curve's last
# segment is flat, so extending it, and the size line past 10 faces, would lower thresholds as FAR falls
CROSSING = Calibration(curves=[
    FarCurve(faces=1, far=[1e-2, 1e-3, 1e-4, 1e-5], threshold=[0.40, 0.53, 0.66, 0.78], impostor_scores=10**6),
    FarCurve(faces=10, far=[1e-2, 10**-2.5, 1e-3, 10**-3.25], threshold=[0.47, 0.57, 0.64, 0.641],
             impostor_scores=20_000),
], default_far=1e-2, calibrated_on="test")


@pytest.mark.parametrize("faces", [1, 3, 10, 24, 100])
def test_a_stricter_far_never_lowers_the_threshold(faces: int) -> None:
    fars = [10 ** (-k / 8) for k in range(8, 80)]  # 1e-1 .. 1e-9.9
    thresholds = [threshold_at(CROSSING, far, faces) for far in fars]
    assert all(b >= a for a, b in zip(thresholds, thresholds[1:])), list(zip(fars, thresholds))


def test_past_the_largest_size_never_below_it() -> None:
    for far in (1e-2, 1e-4, 1e-6, 1e-9):
        assert threshold_at(CROSSING, far, 24) >= threshold_at(CROSSING, far, 10)


def test_below_its_grid_a_curve_follows_its_last_decade_not_its_last_segment() -> None:
    # the 10-face curve rises 0.121 over its last decade (0.52 at 1e-2.25 to 0.641 at 1e-3.25), its last segment 0.001
    assert threshold_at(CROSSING, 10**-4.25, 10) == pytest.approx(0.641 + 0.121, abs=1e-6)


def test_open_set_without_curves_uses_the_union_bound() -> None:
    assert comparison_far(CALIBRATION, 1e-2, 100) == pytest.approx(1e-4)
    assert comparison_far(CALIBRATION, 1e-2, 1) == 1e-2


def test_open_set_curves_scale_the_union_bound() -> None:
    curves = [OpenSetCurve(identities=10, fpir=[1e-2, 1e-3], comparison_far=[5e-4, 2.5e-5], probes=50_000),
              OpenSetCurve(identities=1000, fpir=[1e-2, 1e-3], comparison_far=[1e-5, 1e-6], probes=50_000)]
    calibration = CALIBRATION.model_copy(update={"open_set": curves})
    assert comparison_far(calibration, 1e-2, 10) == pytest.approx(5e-4)  # factor 0.5 at N = 10
    assert comparison_far(calibration, 1e-3, 10) == pytest.approx(2.5e-5)  # factor 0.25
    # halfway in log N between factors 0.5 and 1 at FPIR 1e-2: the geometric mean
    assert comparison_far(calibration, 1e-2, 100) == pytest.approx(1e-4 * math.sqrt(0.5))
    assert comparison_far(calibration, 1e-2, 10**6) == pytest.approx(1e-8)  # held at the largest gallery's factor
    assert comparison_far(calibration, 1e-5, 10) == pytest.approx(1e-6 * 0.25)  # held at the curve's last point


def test_decisions_use_the_default_far_unless_told_otherwise() -> None:
    card = _card()
    assert verify_decision(card, None, None) == verify_decision(card, 1e-2, None)
    assert verify_decision(card, None, None).far == 1e-2
    assert verify_decision(card, 1e-3, None, 4).threshold == 0.6
    assert verify_decision(card, None, 0.77).threshold == 0.77 and verify_decision(card, None, 0.77).far is None
    assert identify_decision(card, 1e-2, None, 1, 10).threshold == threshold_at(CALIBRATION, 1e-3, 1)


def test_a_card_without_calibration_keeps_its_single_thresholds_and_refuses_far() -> None:
    card = _card(None)
    assert verify_decision(card, None, None).threshold == 0.3
    assert identify_decision(card, None, None, 3, 100).threshold == 0.45
    with pytest.raises(FaceverError) as raised:
        verify_decision(card, 1e-3, None)
    assert raised.value.code is ErrorCode.validation_error


@pytest.mark.parametrize("curve", [
    {"far": [1e-2, 1e-1], "threshold": [0.2, 0.3]},  # FAR must fall
    {"far": [1e-1, 1e-2], "threshold": [0.3, 0.2]},  # thresholds must not fall as FAR falls
    {"far": [1e-1, 1e-2], "threshold": [0.3]},  # one threshold per FAR
])
def test_malformed_curves_are_refused(curve: dict) -> None:
    with pytest.raises(ValueError):
        FarCurve(faces=1, impostor_scores=10, **curve)


def test_curves_must_start_at_one_face_and_grow() -> None:
    with pytest.raises(ValueError):
        Calibration(curves=[FOUR], calibrated_on="test")
    with pytest.raises(ValueError):
        Calibration(curves=[ONE, FOUR, FOUR], calibrated_on="test")
