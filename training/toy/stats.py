"""Seed statistics of the toy tables: mean, sample std and a t-based 95 % interval; paired t-tests of a gain."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Summary:
    mean: float
    std: float  # sample std (n - 1); 0 for one value
    low: float  # the CONFIDENCE interval of the mean (Student t, n - 1 dof); NaN for one value
    high: float
    n: int


@dataclass(frozen=True)
class Gain:
    """treated - base, paired by seed (both rows share every seed's net init, head init and batch order)."""

    mean: float  # mean of the per-seed differences
    low: float  # CONFIDENCE interval of that mean; NaN below two seeds
    high: float
    p_value: float  # two-sided paired t-test; NaN below two seeds or when every difference is equal

    @property
    def significant(self) -> bool:
        return self.p_value < 1.0 - CONFIDENCE


def summarise(values: list[float]) -> Summary:
    """values: one number per seed (≥ 1)."""
    if not values:
        raise ValueError("summarise needs at least one value")
    mean, n = statistics.fmean(values), len(values)
    if n == 1:
        return Summary(mean, 0.0, math.nan, math.nan, 1)
    std = statistics.stdev(values)
    low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=std / math.sqrt(n)) if std > 0 else (mean, mean)
    return Summary(mean, std, float(low), float(high), n)


def paired_gain(base: list[float], treated: list[float]) -> Gain:
    """Per-seed lists of the same length and seed order; the test asks whether the mean difference is 0."""
    if len(base) != len(treated) or not base:
        raise ValueError(f"paired seeds need equal, non-empty lists; got {len(base)} and {len(treated)}")
    diffs = [t - b for b, t in zip(base, treated, strict=True)]
    spread = summarise(diffs)
    if len(diffs) < 2 or spread.std == 0:
        return Gain(spread.mean, spread.low, spread.high, math.nan)
    p_value = float(stats.ttest_rel(treated, base).pvalue)
    return Gain(spread.mean, spread.low, spread.high, p_value)
