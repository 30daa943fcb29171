"""Seed statistics against closed forms: the t interval of three values and the paired t-test with 2 dof."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("scipy")

from training.toy.stats import paired_gain, summarise

T_975_2DOF = 4.302652729911275  # Student t 97.5 % quantile, 2 degrees of freedom (printed t tables)


def test_summary_of_three_values() -> None:
    s = summarise([1.0, 2.0, 3.0])
    assert (s.mean, s.std, s.n) == (2.0, 1.0, 3)
    half = T_975_2DOF / math.sqrt(3)
    assert (s.low, s.high) == pytest.approx((2.0 - half, 2.0 + half))


def test_summary_of_one_value_has_no_interval() -> None:
    s = summarise([97.5])
    assert s.mean == 97.5 and s.std == 0.0 and math.isnan(s.low) and math.isnan(s.high)
    with pytest.raises(ValueError):
        summarise([])


def test_paired_gain_matches_the_two_dof_closed_form() -> None:
    # differences 1, 2, 0: mean 1, std 1, t = √3; with 2 dof the two-sided p is 1 - t / √(t² + 2) = 1 - √(3/5)
    gain = paired_gain([1.0, 2.0, 3.0], [2.0, 4.0, 3.0])
    assert gain.mean == pytest.approx(1.0)
    assert gain.p_value == pytest.approx(1.0 - math.sqrt(3.0 / 5.0))
    assert not gain.significant
    assert gain.low < 0.0 < gain.high  # not significant ⇔ the interval holds 0


def test_a_consistent_gain_is_significant_and_order_matters() -> None:
    base = [97.0, 97.4, 96.8, 97.2, 97.1]
    treated = [b + d for b, d in zip(base, [0.50, 0.55, 0.45, 0.52, 0.48], strict=True)]
    up, down = paired_gain(base, treated), paired_gain(treated, base)
    assert up.significant and 0.0 < up.low < up.mean < up.high
    assert down.mean == pytest.approx(-up.mean) and down.p_value == pytest.approx(up.p_value)


def test_degenerate_pairs() -> None:
    assert math.isnan(paired_gain([1.0, 2.0], [2.0, 3.0]).p_value)  # every difference equal: t undefined
    assert math.isnan(paired_gain([1.0], [2.0]).p_value)
    with pytest.raises(ValueError):
        paired_gain([1.0, 2.0], [1.0])
