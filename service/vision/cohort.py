"""Cohort score normalisation: a cosine corrected by how close each side lies to faces in general.

Some faces resemble many others to a given model: a probe like that (a "wolf") or an enrolled identity like that
(a "lamb", Doddington et al., ICSLP 1998) draws high cosines from strangers, so one threshold accepts far more
impostors for them than for everyone else. Each vector x gets a shift m_x, the mean of its K highest cosines
against a fixed cohort of C faces of people who are neither enrolled nor probed, and a pair is scored

    score(a, b) = cos(a, b) - (m_a + m_b) / 2

This is the adaptive cohort selection of AS-norm (top-K cohort scores per side: Sturim & Reynolds, ICASSP 2005;
Matějka et al., Interspeech 2017) with the mean subtracted and no division by the cohort's spread, which on LFW
scored no better. docs/identity-decisions.md has what it does to every decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOP_K = 10  # cohort cosines averaged per vector


@dataclass(frozen=True)
class Cohort:
    """vectors: (C, D) float32 unit rows of the cohort's faces; top_k: K of the module docstring (<= C)."""

    vectors: np.ndarray
    top_k: int = TOP_K

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or not 1 <= self.top_k <= len(self.vectors):
            raise ValueError(f"a cohort needs (C, D) vectors and 1 <= top_k <= C; got {self.vectors.shape}, "
                             f"top_k={self.top_k}")

    def shifts(self, vectors: np.ndarray) -> np.ndarray:
        """(N, D) unit vectors -> (N,) float32 shifts m: the mean of each row's top_k cosines with the cohort."""
        cosines = np.asarray(vectors, np.float32).reshape(-1, self.vectors.shape[1]) @ self.vectors.T
        top = np.partition(cosines, cosines.shape[1] - self.top_k, axis=1)[:, -self.top_k:]
        return top.mean(axis=1).astype(np.float32)


def normalised(cosine: np.ndarray | float, shift_a: np.ndarray | float, shift_b: np.ndarray | float) -> np.ndarray:
    """score = cosine - (shift_a + shift_b) / 2, element-wise (broadcasting: one probe against many templates)."""
    return np.asarray(cosine, np.float32) - (np.asarray(shift_a, np.float32) + np.asarray(shift_b, np.float32)) / 2
