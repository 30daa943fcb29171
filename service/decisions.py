"""Decision thresholds named by their false-accept rate, for each decision the service makes.

A model card's `calibration` holds, for templates of 1, 2, 3, 5, 10... enrolled faces, the score threshold at
each false-accept rate (FAR) on a grid. A request names a FAR (or the card's default); this module turns it into
the threshold for the decision at hand:

- photo against photo: the 1-face curve at that FAR;
- photo against an identity with n enrolled faces: the curves interpolated at n, linearly in ln n (impostor scores
  against a mean template grow about linearly in ln n); past the largest calibrated size, the last two sizes'
  line is extended, never below the largest size's threshold;
- open-set identification over N identities: the best candidate is tested at a per-comparison FAR chosen so
  that a person who was never enrolled matches anyone with probability FAR (the false-positive identification
  rate, FPIR, of ISO/IEC 19795-1). The union bound gives FAR / N; the card's `open_set` curves, measured on
  simulated galleries of 10, 100 and 1,000 identities, give the factor r(FAR, N) by which the calibrated
  per-comparison FAR differs from FAR / N (interpolated in log FAR and log N, held constant beyond the
  measured range).

Between grid points a curve is interpolated linearly in log10(FAR); below its smallest calibrated FAR it goes on
with the slope of its last decade (a guess, not a measurement: docs/identity-decisions.md shows how the curves bend
at their ends). A threshold is never below that of a looser FAR. An explicit `threshold` overrides all this, and a
card without calibration keeps its single thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.errors import ErrorCode, FaceverError
from service.vision.model_card import Calibration, FarCurve, ModelCard, OpenSetCurve


@dataclass(frozen=True)
class Decision:
    """A threshold and the FAR it was chosen for (None: an explicit threshold, or a card without calibration)."""

    threshold: float | None
    far: float | None

    def accepts(self, similarity: float) -> bool | None:
        return None if self.threshold is None else similarity >= self.threshold


EXTENSION_DECADES = 1.0  # below a curve's smallest FAR, it goes on with its slope over this last span
GRID_STEPS_PER_DECADE = 20  # FARs at which a threshold is checked against every looser FAR's


def _curve_thresholds(curve: FarCurve, decades: np.ndarray) -> np.ndarray:
    """The curve's thresholds at -log10(FAR) = `decades`: interpolated on the grid, held above its largest FAR,
    and below its smallest extended with the slope of its last EXTENSION_DECADES (one noisy segment alone can be
    flat)."""
    xs, ys = -np.log10(curve.far), np.asarray(curve.threshold, np.float64)
    found = np.interp(decades, xs, ys)
    below = decades > xs[-1]
    if len(xs) > 1 and below.any():
        start = max(xs[0], xs[-1] - EXTENSION_DECADES)
        slope = (ys[-1] - np.interp(start, xs, ys)) / (xs[-1] - start)
        found[below] = ys[-1] + max(slope, 0.0) * (decades[below] - xs[-1])
    return found


def _size_thresholds(calibration: Calibration, decades: np.ndarray, faces: int) -> np.ndarray:
    """Thresholds at `decades` for templates of `faces` faces: the curves interpolated linearly in ln n; past the
    largest calibrated size, the last two sizes' line is extended, never below the largest size's threshold."""
    sizes = np.log([curve.faces for curve in calibration.curves])
    at = np.stack([_curve_thresholds(curve, decades) for curve in calibration.curves])  # (sizes, FARs)
    n = math.log(max(faces, 1))
    if len(sizes) == 1 or n <= sizes[0]:
        return at[0]
    if n < sizes[-1]:
        i = int(np.searchsorted(sizes, n, side="right")) - 1
        weight = (n - sizes[i]) / (sizes[i + 1] - sizes[i])
        return at[i] + weight * (at[i + 1] - at[i])
    extended = at[-1] + (at[-1] - at[-2]) * (n - sizes[-1]) / (sizes[-1] - sizes[-2])
    return np.maximum(extended, at[-1])


def thresholds_at(calibration: Calibration, fars: Sequence[float] | np.ndarray, faces: int) -> np.ndarray:
    """The score thresholds at each of `fars` for a probe against a template of `faces` enrolled faces (>= 1).

    Each is never looser than the threshold at any larger FAR (checked on a 1/20-decade grid from the curves'
    largest FAR): a stricter request never lowers the threshold, even where interpolated curves cross. One grid
    serves every FAR asked for."""
    wanted = -np.log10(np.asarray(fars, np.float64))
    loosest = min(float(-np.log10(curve.far[0])) for curve in calibration.curves)
    grid = np.arange(loosest, wanted.max(), 1 / GRID_STEPS_PER_DECADE)
    found = _size_thresholds(calibration, wanted, faces)
    if len(grid):
        looser = np.maximum.accumulate(_size_thresholds(calibration, grid, faces))
        before = np.searchsorted(grid, wanted, side="left") - 1  # the last grid point of a strictly larger FAR
        has = before >= 0
        found[has] = np.maximum(found[has], looser[before[has]])
    return np.round(np.minimum(found, 1.0), 6)


def threshold_at(calibration: Calibration, far: float, faces: int) -> float:
    """thresholds_at for one FAR."""
    return float(thresholds_at(calibration, [far], faces)[0])


def _open_set_factor(curve: OpenSetCurve, fpir: float) -> float:
    """log of the calibrated per-comparison FAR over the union bound's, at `fpir` (held at the curve's ends)."""
    ratios = np.log(np.asarray(curve.comparison_far) * curve.identities / np.asarray(curve.fpir))
    return float(np.interp(-math.log10(fpir), -np.log10(curve.fpir), ratios))


def comparison_far(calibration: Calibration, fpir: float, identities: int) -> float:
    """The FAR each candidate is tested at so that open-set identification over `identities` keeps `fpir`."""
    identities = max(identities, 1)
    if not calibration.open_set or identities == 1:
        return fpir / identities
    sizes = np.log([curve.identities for curve in calibration.open_set])
    factors = [_open_set_factor(curve, fpir) for curve in calibration.open_set]
    return fpir / identities * math.exp(float(np.interp(math.log(identities), sizes, factors)))


def _requested_far(card: ModelCard, far: float | None) -> float | None:
    if card.calibration is None:
        if far is not None:
            raise FaceverError(ErrorCode.validation_error, f"model {card.name} has no FAR calibration: send a "
                               "threshold instead of far", errors=[{"field": "far", "message": "not calibrated"}])
        return None
    return far if far is not None else card.calibration.default_far


def verify_decision(card: ModelCard, far: float | None, threshold: float | None, faces: int = 1) -> Decision:
    """Photo against photo (`faces` = 1) or against an identity with `faces` enrolled faces."""
    if threshold is not None:
        return Decision(threshold, None)
    wanted = _requested_far(card, far)
    if wanted is None:
        return Decision(card.thresholds.best_accuracy, None)
    return Decision(threshold_at(card.calibration, wanted, faces), wanted)


def identify_decision(
    card: ModelCard, far: float | None, threshold: float | None, faces: int, identities: int
) -> Decision:
    """A candidate with `faces` enrolled faces, found among `identities` identities; `far` bounds the FPIR."""
    if threshold is not None:
        return Decision(threshold, None)
    wanted = _requested_far(card, far)
    if wanted is None:
        return Decision(card.thresholds.identify, None)
    return Decision(threshold_at(card.calibration, comparison_far(card.calibration, wanted, identities), faces), wanted)
