"""Error rates whose intervals resample people, not comparisons.

The comparisons behind one face-decision rate are far from independent: every photo of a person takes part in
thousands of them, and one person who looks like many others (or one enrolled identity many strangers resemble)
can supply most of the errors. A binomial interval counts comparisons and is far too narrow then. A Rate keeps
each error's people and the trials per person, and its interval comes from a Poisson bootstrap over people
(each person weighted by a Poisson(1) draw, as in Hanley & MacGibbon, Comput. Methods Programs Biomed. 2006):

- an error between people a and b (an impostor pair, a stranger matched to an enrolled identity) weighs w_a·w_b,
  an error of one person (a genuine attempt refused) weighs w_a;
- trials are sums over people, given as terms: one-person terms Σ_a w_a·u_a, and pair terms
  Σ_{a≠b} w_a·w_b·u_a·v_b for decisions where every probe of a meets every template of b.

The reported interval is the wider, at each end, of the percentile bootstrap interval and the exact binomial
(Clopper-Pearson) one, so a rate with few or no errors keeps at least the binomial uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
from scipy.stats import beta

DRAWS = 1000  # bootstrap resamples of the people
CONFIDENCE = 0.95
SEED = 20061  # one fixed resample of the people for every rate: rates of one report vary together
NOBODY = -1  # the second person of a one-person error
CHUNK = 100  # resamples scored at once (memory: CHUNK x distinct error pairs)


@lru_cache(maxsize=4)
def person_weights(people: int) -> np.ndarray:
    """(DRAWS, people) Poisson(1) weights, the same for every rate over these people."""
    return np.random.default_rng(SEED).poisson(1.0, (DRAWS, people)).astype(np.float64)


@dataclass(frozen=True, eq=False)
class Rate:
    """An observed error rate over `people` people and its 95 % interval.

    error_pairs: (E, 2) int, the two people of each error (NOBODY second for one-person errors);
    trial_terms: ((u, v or None), ...), each u, v of shape (people,): see the module docstring.
    """

    people: int
    error_pairs: np.ndarray
    trial_terms: tuple[tuple[np.ndarray, np.ndarray | None], ...] = field(repr=False)

    @classmethod
    def of_people(cls, people: int, first: np.ndarray, second: np.ndarray | None, trials_per_person: np.ndarray,
                  trials_against: np.ndarray | None = None) -> Rate:
        """Errors between first[i] and second[i] (one-person errors: second None); trials as one term (u, v)."""
        first = np.asarray(first, np.int64)
        second = np.full_like(first, NOBODY) if second is None else np.asarray(second, np.int64)
        term = (np.asarray(trials_per_person, np.float64),
                None if trials_against is None else np.asarray(trials_against, np.float64))
        return cls(people, np.stack([first, second], axis=1).reshape(-1, 2), (term,))

    @property
    def errors(self) -> int:
        return len(self.error_pairs)

    @cached_property
    def trials(self) -> int:
        return round(float(self._trials(np.ones((1, self.people)))[0]))

    @property
    def rate(self) -> float:
        return self.errors / self.trials if self.trials else float("nan")

    def _trials(self, weights: np.ndarray) -> np.ndarray:
        total = np.zeros(len(weights))
        for u, v in self.trial_terms:
            total += weights @ u if v is None else (weights @ u) * (weights @ v) - (weights**2) @ (u * v)
        return total

    def _errors(self, weights: np.ndarray) -> np.ndarray:
        pairs, counts = np.unique(self.error_pairs, axis=0, return_counts=True)
        total = np.zeros(len(weights))
        if not len(pairs):
            return total
        lone = pairs[:, 1] == NOBODY
        for start in range(0, len(weights), CHUNK):
            w = weights[start : start + CHUNK]
            second = np.where(lone, 1.0, w[:, np.where(lone, 0, pairs[:, 1])])
            total[start : start + CHUNK] = (w[:, pairs[:, 0]] * second) @ counts
        return total

    @cached_property
    def _interval(self) -> tuple[float, float]:
        tail = (1 - CONFIDENCE) / 2
        n, k = self.trials, self.errors
        if not n:
            return float("nan"), float("nan")
        exact_low = beta.ppf(tail, k, n - k + 1) if k else 0.0
        exact_high = beta.ppf(1 - tail, k + 1, n - k) if k < n else 1.0
        weights = person_weights(self.people)
        trials = self._trials(weights)
        resampled = self._errors(weights)[trials > 0] / trials[trials > 0]
        boot_low, boot_high = np.quantile(resampled, [tail, 1 - tail])
        return float(min(exact_low, boot_low)), float(max(exact_high, boot_high))

    @property
    def low(self) -> float:
        return self._interval[0]

    @property
    def high(self) -> float:
        return self._interval[1]

    def __add__(self, other: Rate) -> Rate:
        if other.people != self.people:
            raise ValueError(f"rates over {self.people} and {other.people} people do not add")
        return Rate(self.people, np.concatenate([self.error_pairs, other.error_pairs]),
                    self.trial_terms + other.trial_terms)

    def to_dict(self) -> dict[str, float]:
        return {"errors": self.errors, "trials": self.trials, "low": self.low, "high": self.high, "rate": self.rate}
