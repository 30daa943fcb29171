"""Rates whose intervals resample people: trial counts, the binomial floor, and wider intervals when a few people
make the errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import beta

from training.evaluation.person_rates import Rate


def test_pair_trials_count_every_probe_of_one_person_against_every_template_of_another() -> None:
    photos, templates = np.array([3, 1, 2]), np.array([2, 0, 1])
    rate = Rate.of_people(3, [0], [2], photos, templates)
    brute = sum(photos[a] * templates[b] for a in range(3) for b in range(3) if a != b)
    assert rate.trials == brute == 1 * 2 + 2 * 2 + 3 * 1 + 1 * 1  # = 10
    assert rate.errors == 1 and rate.rate == pytest.approx(0.1)


def test_one_person_rates_and_their_sum() -> None:
    a = Rate.of_people(4, [0, 0, 1], None, [10, 10, 10, 10])
    b = Rate.of_people(4, [3], None, [0, 0, 0, 20])
    total = a + b
    assert (total.errors, total.trials) == (4, 60)
    assert total.to_dict()["rate"] == pytest.approx(4 / 60)
    with pytest.raises(ValueError, match="do not add"):
        a + Rate.of_people(5, [0], None, np.ones(5))


def test_the_interval_is_never_narrower_than_the_binomial_one() -> None:
    people = 200
    spread = Rate.of_people(people, np.arange(20), None, np.full(people, 50))  # 20 errors by 20 people
    n, k = spread.trials, spread.errors
    exact = beta.ppf(0.025, k, n - k + 1), beta.ppf(0.975, k + 1, n - k)
    assert spread.low <= exact[0] * (1 + 1e-12) and spread.high >= exact[1] * (1 - 1e-12)
    none = Rate.of_people(people, [], None, np.full(people, 50))
    assert none.low == 0 and none.high == pytest.approx(beta.ppf(0.975, 1, n))


def test_errors_made_by_one_person_widen_the_interval() -> None:
    """The same 20 errors in 10,000 trials: from 20 different people, or all from one person."""
    people, trials = 200, np.full(200, 50)
    spread = Rate.of_people(people, np.arange(20), None, trials)
    one = Rate.of_people(people, np.zeros(20, np.int64), None, trials)
    assert spread.rate == one.rate
    assert one.high - one.low > 2 * (spread.high - spread.low)
    assert one.low == 0  # in about 37 % of resamples that person is absent


def test_an_identity_that_attracts_many_strangers_widens_an_identification_interval() -> None:
    people, trials = 300, np.full(300, 20)
    strangers = np.arange(100, 130)
    lamb = Rate.of_people(people, strangers, np.zeros(30, np.int64), trials)  # all matched to person 0
    varied = Rate.of_people(people, strangers, np.arange(30), trials)
    assert lamb.rate == varied.rate and lamb.high > varied.high
