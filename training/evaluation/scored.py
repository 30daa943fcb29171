"""Evaluation sets of unit vectors scored as the service scores them: each row's shift under a Scoring."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Self

import numpy as np

from service.vision.cohort import Scoring


@dataclass(frozen=True, kw_only=True)
class ScoredVectors:
    """Base of a set whose subclass holds (N, D) unit rows in `vectors`: how they are scored, and each row's
    shift under that scoring (service.vision.cohort)."""

    scoring: Scoring = field(default_factory=Scoring)  # the plain cosine by default
    shifts: np.ndarray = field(init=False)  # (N,) each row's shift under `scoring` (zeros for the cosine)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shifts", self.scoring.shifts(self.vectors))  # type: ignore[attr-defined]

    def with_scoring(self, scoring: Scoring) -> Self:
        """The same rows, scored from now on as `scoring` scores them (e.g. a model's cohort)."""
        return replace(self, scoring=scoring)
