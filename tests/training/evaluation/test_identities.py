"""The identity-decision protocol on synthetic people: counts, curves, intervals, and thresholds that keep their
FAR on people not used to calibrate them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.decisions import threshold_at
from service.vision.cohort import Cohort, Scoring
from training.evaluation.identities import (
    MIN_ACCEPTED,
    People,
    calibrate,
    compare_scorings,
    far_at,
    far_curve,
    people_of,
    read_people_sets,
    template_scores,
)
from training.evaluation.identity_report import _one_in, identity_report
from training.evaluation.person_rates import Rate

DIM = 24


def _people(rng: np.random.Generator, n_people: int = 400) -> People:
    """Unit vectors around one random centre per person, 1..6 photos each, people spread over 10 sets."""
    counts = rng.integers(1, 7, n_people)
    centres = rng.normal(size=(n_people, DIM))
    person = np.repeat(np.arange(n_people), counts)
    vectors = centres[person] + rng.normal(scale=0.9, size=(len(person), DIM))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return People(vectors.astype(np.float32), person, np.arange(n_people) % 10)


def test_people_txt_gives_each_person_their_set(tmp_path: Path) -> None:
    listing = tmp_path / "people.txt"
    listing.write_text("2\n2\nAnn_A\t3\nBo_B\t1\n1\nCy_C\t2\n")
    sets = read_people_sets(listing)
    assert sets == {"Ann_A": 0, "Bo_B": 0, "Cy_C": 1}
    people = people_of(["Cy_C", "Ann_A", "Ann_A"], np.eye(3, dtype=np.float32), sets)
    assert people.person.tolist() == [1, 0, 0] and people.person_set.tolist() == [0, 1]
    assert people.rows_of([1]).tolist() == [0]
    with pytest.raises(ValueError, match="no people.txt set"):
        people_of(["Dee_D"], np.eye(1, dtype=np.float32), sets)


def test_one_face_templates_score_every_pair_of_photos_once_each_way() -> None:
    people = _people(np.random.default_rng(0), 30)
    counts = np.bincount(people.person)
    scores = template_scores(people, np.arange(len(people.person)), 1, np.random.default_rng(0))
    assert scores.templates == len(people.person)
    assert scores.genuine.size == int((counts * (counts - 1)).sum())
    assert scores.impostor.size == int((counts * (len(people.person) - counts)).sum())


def test_a_curve_accepts_at_most_its_far_and_stops_where_too_few_scores_remain() -> None:
    impostor = np.random.default_rng(1).uniform(-1, 1, 100_000)
    curve = far_curve(impostor, 1)
    for far, threshold in zip(curve.far, curve.threshold):
        accepted = float(np.mean(impostor >= threshold))
        assert far - MIN_ACCEPTED / impostor.size <= accepted <= far
    assert curve.far[-1] * impostor.size >= MIN_ACCEPTED > curve.far[-1] * impostor.size / 10 ** 0.25


def test_far_at_inverts_threshold_at() -> None:
    people = _people(np.random.default_rng(2))
    calibration = calibrate(people, np.arange(len(people.person)), 0, 1e-2, "synthetic")
    for faces in (1, 3):
        for far in (3e-2, 1e-3):
            assert far_at(calibration, np.array([threshold_at(calibration, far, faces)]), faces)[0] == pytest.approx(
                far, rel=0.02)


def test_thresholds_keep_their_far_on_people_they_were_not_calibrated_on() -> None:
    """On exchangeable synthetic people the out-of-sample FAR must sit within its interval of the promise."""
    people = _people(np.random.default_rng(3), 600)
    report = identity_report(people, "synthetic", "m", "0" * 64, 1e-2, 0)
    checked = [row for row in report.verify if row.far == 1e-2 and row.observed_far.trials > 10_000]
    assert {row.faces for row in checked} >= {1, 3, 5}
    for row in checked:
        assert row.observed_far.low <= 1.3e-2 and row.observed_far.high >= 0.7e-2, row
    assert report.calibration.curves[0].faces == 1 and report.calibration.default_far == 1e-2
    assert [c.identities for c in report.calibration.open_set] == [10, 100]  # 600 people: no gallery of 1,000


def test_the_report_names_the_enrolled_people_who_drew_the_most_false_matches() -> None:
    people = _people(np.random.default_rng(5), 600)
    people = People(people.vectors, people.person, people.person_set, tuple(f"P{i}" for i in range(600)))
    report = identity_report(people, "synthetic", "m", "0" * 64, 1e-2, 0).to_dict()
    for row in report["identify"]:
        counts = [m["false_matches"] for m in row["most_matched"]]
        assert counts == sorted(counts, reverse=True) and sum(counts) <= row["fpir"]["errors"]
        assert all(m["identity"].startswith("P") for m in row["most_matched"])
    assert any(row["most_matched"] for row in report["identify"])


def test_scorings_are_compared_on_the_same_templates_at_the_same_far() -> None:
    people = _people(np.random.default_rng(4), 600)
    rows = compare_scorings(people, (3,), (1e-2,), 0)
    (row,) = rows
    assert set(row.frr) == {"mean template", "best face"} and all(0 <= v <= 1 for v in row.frr.values())
    # averaging noisy photos of one centre finds it better than any single photo
    assert row.frr["mean template"] < row.frr["best face"]


def test_cohort_scores_are_cosines_less_both_shifts() -> None:
    rng = np.random.default_rng(6)
    people = _people(rng, 50)
    cohort = Cohort(_people(rng, 100).vectors, top_k=5)
    normed = people.with_scoring(Scoring(cohort))
    templates = people.vectors[:3]
    probes = np.arange(10, 20)
    expected = people.vectors[probes] @ templates.T - (cohort.shifts(people.vectors[probes])[:, None]
                                                       + cohort.shifts(templates)[None, :]) / 2
    assert normed.gallery_scores(probes, templates) == pytest.approx(expected, abs=1e-5)
    assert people.gallery_scores(probes, templates) == pytest.approx(people.vectors[probes] @ templates.T)


def test_cohort_normalisation_takes_false_matches_from_people_who_resemble_everyone() -> None:
    """Synthetic people around a common face; 30 of them sit near its centre and draw strangers' false matches.
    Scored with a cohort of other such people, they draw a quarter of that share or less."""
    rng = np.random.default_rng(7)
    common = rng.normal(size=DIM)

    def population(n_people: int) -> People:
        counts = rng.integers(2, 7, n_people)
        centres = common + 1.2 * rng.normal(size=(n_people, DIM))
        centres[:30] = common + 0.3 * rng.normal(size=(30, DIM))  # people who resemble everyone
        person = np.repeat(np.arange(n_people), counts)
        vectors = centres[person] + rng.normal(scale=0.9, size=(len(person), DIM))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return People(vectors.astype(np.float32), person, np.arange(n_people) % 10,
                      tuple(("L" if i < 30 else "P") + str(i) for i in range(n_people)))

    people, others = population(600), population(300)
    share = {}
    for name, scored in (("cosine", people), ("cohort", people.with_scoring(Scoring(Cohort(others.vectors, top_k=10))))):
        rows = identity_report(scored, "synthetic", "m", "0" * 64, 1e-2, 0).to_dict()["identify"]
        drawn = sum(m["false_matches"] for r in rows for m in r["most_matched"] if m["identity"].startswith("L"))
        share[name] = drawn / sum(r["fpir"]["errors"] for r in rows)
    assert share["cosine"] > 0.1 and share["cohort"] < share["cosine"] / 4, share


@pytest.mark.parametrize(("errors", "words"), [(0, "none in 20"), (1, "about 1 in 20"), (5, "about 2.5 in 10"),
                                               (7, "about 3.5 in 10"), (10, "about 5 in 10")])
def test_plain_words_keep_the_rate(errors: int, words: str) -> None:
    """20 people, one trial each: a quarter of them in error reads 2.5 in 10, not a rounded 2 in 10."""
    assert _one_in(Rate.of_people(20, np.arange(errors), None, np.ones(20))) == words
