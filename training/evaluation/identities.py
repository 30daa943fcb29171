"""Identity decisions on LFW: FAR curves for templates of n faces, and the error rates they give on unseen people.

Every LFW person with several photos gives identities of 1..k enrolled faces (their mean template,
service.gallery.templates) and genuine probes (their other photos); every other person's photos are impostor
probes and never-enrolled probes. Three decisions are measured, as the service makes them:

- verify, photo against photo (templates of 1 face);
- verify against an identity with n enrolled faces;
- open-set identify over a gallery of N identities: a never-enrolled probe that matches anyone is a false
  positive identification (FPIR), a probe of an enrolled person that does not match that person is a false
  negative identification (FNIR) (ISO/IEC 19795-1 terms).

Calibration and measurement never share people: LFW's people.txt splits its people into 10 disjoint sets; sets
1-5 calibrate the thresholds measured on sets 6-10 and the other way round, so each observed FAR is out of
sample. The card's calibration uses every person.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Self

import numpy as np

from service.decisions import comparison_far, threshold_at, thresholds_at
from service.gallery.templates import mean_template
from service.vision.model_card import Calibration, FarCurve, OpenSetCurve, scoring_of
from training.evaluation.person_rates import Rate
from training.evaluation.scored import ScoredVectors

TEMPLATE_SIZES = (1, 2, 3, 5, 10)
FAR_GRID = tuple(10 ** (-k / 4) for k in range(4, 33))  # 1e-1 .. 1e-8 in quarter decades
MIN_ACCEPTED = 10  # a curve point needs at least this many impostor scores above it to be estimated
DRAWS = 8  # random templates per person and size (every photo once for 1-face templates)
REPORTED_SIZES = (1, 3, 5, 10)
GALLERY_SIZES = (10, 100, 1000)
GALLERY_DRAWS = 10  # random galleries per size
MAX_ENROLLED = 5  # faces enrolled per gallery identity (fewer when the person has fewer spare photos)
NAMED_FARS = (1e-2, 1e-3, 1e-4)


@dataclass(frozen=True)
class People(ScoredVectors):
    """LFW features with a person index per image and the people.txt set (0-9) of each person; scored by
    `scoring` (ScoredVectors)."""

    vectors: np.ndarray  # (N, D) unit rows
    person: np.ndarray  # (N,) int person index
    person_set: np.ndarray  # (P,) int set of each person
    names: tuple[str, ...] = ()  # (P,) each person's name, where known

    def gallery_scores(self, probe_rows: np.ndarray, templates: np.ndarray) -> np.ndarray:
        """(P, T) scores of the images at `probe_rows` against (T, D) templates."""
        cosine = self.vectors[probe_rows] @ templates.T
        return self.scoring.score(cosine, self.shifts[probe_rows][:, None], self.scoring.shifts(templates)[None, :])

    def rows_of(self, sets: Sequence[int]) -> np.ndarray:
        return np.flatnonzero(np.isin(self.person_set[self.person], sets))


def read_people_sets(people_txt: Path) -> dict[str, int]:
    """people.txt: a count of sets, then per set a count of people and `name n_images` lines; name -> set."""
    lines = [line.split() for line in people_txt.read_text().splitlines() if line.strip()]
    sets, row, found = int(lines[0][0]), 1, {}
    for number in range(sets):
        count = int(lines[row][0])
        found.update((name, number) for name, _ in lines[row + 1 : row + 1 + count])
        row += count + 1
    return found


def people_of(names: Sequence[str], vectors: np.ndarray, sets: dict[str, int]) -> People:
    """Index the images' person names; a person missing from people.txt is an error (the split would leak)."""
    unknown = sorted(set(names) - set(sets))
    if unknown:
        raise ValueError(f"{len(unknown)} people are in no people.txt set, e.g. {unknown[:3]}")
    unique, person = np.unique(np.asarray(names), return_inverse=True)
    return People(np.asarray(vectors, np.float32), person, np.array([sets[name] for name in unique]),
                  tuple(str(name) for name in unique))


@dataclass(frozen=True)
class Scores:
    """Genuine and impostor similarities of probes against templates of one size, with the people behind each score
    (person indices of People)."""

    faces: int
    genuine: np.ndarray  # (G,)
    impostor: np.ndarray  # (M,)
    templates: int
    genuine_person: np.ndarray  # (G,) the person of probe and template
    impostor_probe: np.ndarray  # (M,) the probe's person
    impostor_template: np.ndarray  # (M,) the template's person
    probe_photos: np.ndarray  # (P,) photos of each person among the rows scored
    templates_per_person: np.ndarray  # (P,)


def _best_face(people: People, probes: np.ndarray, shifts: np.ndarray, enrolled: np.ndarray) -> np.ndarray:
    """probes: (P, D) vectors with their (P,) shifts; enrolled: rows of People. -> (P,) best score per probe."""
    scores = people.scoring.score(probes @ people.vectors[enrolled].T, shifts[:, None], people.shifts[enrolled][None, :])
    return scores.max(axis=1)


def _template(people: People, probes: np.ndarray, shifts: np.ndarray, enrolled: np.ndarray) -> np.ndarray:
    """As _best_face, against the mean template of the enrolled rows."""
    template = mean_template(people.vectors[enrolled])
    return people.scoring.score(probes @ template, shifts, people.scoring.shifts(template)[0])


SCORINGS = {"mean template": _template, "best face": _best_face}  # how an identity of several faces is scored


def template_scores(people: People, rows: np.ndarray, faces: int, rng: np.random.Generator,
                    scoring: str = "mean template") -> Scores:
    """Templates of `faces` photos of each person in `rows` who has that many (DRAWS random ones each; for one
    face, every photo), scored against that person's other photos (genuine) and all others (impostor) by
    `scoring` (a key of SCORINGS: the service's mean template, or the best single face for comparison)."""
    score = SCORINGS[scoring]
    person = people.person[rows]
    genuine, impostor, genuine_person, impostor_template = [], [], [], []
    templates_per_person = np.zeros(len(people.person_set), np.int64)
    for who in np.unique(person):
        own = rows[person == who]
        if len(own) < faces:
            continue
        others = people.vectors[rows[person != who]]
        others_shifts = people.shifts[rows[person != who]]
        draws = [own[[i]] for i in range(len(own))] if faces == 1 else [
            rng.choice(own, faces, replace=False) for _ in range(DRAWS)]
        for enrolled in draws:
            probes = np.setdiff1d(own, enrolled)
            genuine.append(score(people, people.vectors[probes], people.shifts[probes], enrolled))
            genuine_person.append(np.full(len(genuine[-1]), who, np.int32))
            impostor.append(score(people, others, others_shifts, enrolled))
            impostor_template.append(np.full(len(impostor[-1]), who, np.int32))
            templates_per_person[who] += 1
    scored = np.flatnonzero(templates_per_person)
    impostor_probe = [person[person != who].astype(np.int32) for who in scored for _ in range(templates_per_person[who])]
    empty, none = np.zeros(0, np.float32), np.zeros(0, np.int32)
    return Scores(faces, np.concatenate(genuine or [empty]), np.concatenate(impostor or [empty]),
                  int(templates_per_person.sum()), np.concatenate(genuine_person or [none]),
                  np.concatenate(impostor_probe or [none]), np.concatenate(impostor_template or [none]),
                  np.bincount(person, minlength=len(people.person_set)), templates_per_person)


def far_curve(impostor: np.ndarray, faces: int) -> FarCurve | None:
    """Thresholds at FAR_GRID points with at least MIN_ACCEPTED impostor scores at or above them: each the
    smallest score step above which the accepted fraction does not exceed the point (None: too few scores for
    two points)."""
    ranked = np.sort(np.asarray(impostor, np.float64))[::-1]
    fars, thresholds = [], []
    for far in FAR_GRID:
        allowed = math.floor(far * len(ranked))  # impostor scores that may be accepted
        if allowed < MIN_ACCEPTED:
            break
        fars.append(far)
        thresholds.append(float(np.nextafter(ranked[allowed], np.inf)))  # the (allowed+1)-th best is refused
    if len(fars) < 2:
        return None
    return FarCurve(faces=faces, far=fars, threshold=thresholds, impostor_scores=len(ranked))


OUTLIER_COSINE = 0.85  # impostor pairs above this are listed: a lookalike cluster shows up here first


@dataclass(frozen=True)
class Outliers:
    """Impostor photo pairs of a set of people scoring above OUTLIER_COSINE: how many, and the top ones."""

    sets: tuple[int, ...]
    impostor_pairs: int
    above: int
    top: list[tuple[float, str, str]]  # (cosine, image a, image b), best first


def impostor_outliers(people: People, sets: Sequence[int], names: Sequence[str], shown: int = 10) -> Outliers:
    """The impostor pairs among the photos of the people in `sets` (names: one per image) above OUTLIER_COSINE."""
    rows = people.rows_of(sets)
    scores = people.vectors[rows] @ people.vectors[rows].T
    a, b = np.triu_indices(len(rows), 1)
    impostor = people.person[rows][a] != people.person[rows][b]
    values = scores[a, b]
    above = np.flatnonzero(impostor & (values > OUTLIER_COSINE))
    order = above[np.argsort(-values[above])][:shown]
    top = [(round(float(values[k]), 4), names[rows[a[k]]], names[rows[b[k]]]) for k in order]
    return Outliers(tuple(sets), int(impostor.sum()), len(above), top)


def calibrate(people: People, rows: np.ndarray, seed: int, default_far: float, source: str) -> Calibration:
    """A card calibration from the people in `rows`: FAR curves per template size, then open-set curves per
    gallery size on galleries drawn from the same people."""
    rng = np.random.default_rng(seed)
    curves = [far_curve(template_scores(people, rows, n, rng).impostor, n) for n in TEMPLATE_SIZES]
    calibration = Calibration(curves=[c for c in curves if c is not None], default_far=default_far,
                              calibrated_on=source,
                              scoring=scoring_of(people.scoring.cohort is not None))
    open_set = [open_set_curve(people, rows, calibration, size, rng) for size in GALLERY_SIZES]
    return calibration.model_copy(update={"open_set": [c for c in open_set if c is not None]})


@dataclass(frozen=True)
class ScoringRow:
    """Genuine attempts refused by each way of scoring an identity of `faces` faces, at the threshold that accepts
    `far` of its own impostor scores (thresholds set in sample: this compares scorings, it calibrates nothing)."""

    faces: int
    far: float
    frr: dict[str, float]  # by scoring


def compare_scorings(people: People, sizes: Sequence[int], fars: Sequence[float], seed: int) -> list[ScoringRow]:
    """FRR at equal FAR of every scoring in SCORINGS, on the same random templates of every person."""
    found = []
    for faces in sizes:
        scores = {name: template_scores(people, np.arange(len(people.person)), faces, np.random.default_rng(seed),
                                        name) for name in SCORINGS}
        for far in fars:
            frr = {}
            for name, s in scores.items():
                curve = far_curve(s.impostor, faces)
                if curve is None or far not in curve.far:
                    break
                frr[name] = float(np.mean(s.genuine < curve.threshold[curve.far.index(far)]))
            else:
                found.append(ScoringRow(faces, far, frr))
    return found


def far_at(calibration: Calibration, scores: np.ndarray, faces: int) -> np.ndarray:
    """The FAR whose threshold equals each score, for templates of `faces` faces (the inverse of threshold_at,
    on a grid of 1e-1 .. 1e-9 in 1/20 decades; clamped at its ends)."""
    fars = 10 ** np.linspace(-1, -9, 161)
    thresholds = thresholds_at(calibration, fars, faces)
    return 10 ** np.interp(scores, thresholds, np.log10(fars))


def _best_match_far(calibration: Calibration, people: People, probes: np.ndarray, templates: np.ndarray,
                    faces: np.ndarray) -> np.ndarray:
    """For each probe (rows of People), the per-comparison FAR at which its best-scoring template would just
    accept it."""
    scores = people.gallery_scores(probes, templates)
    best = scores.argmax(axis=1)
    top = scores[np.arange(len(best)), best]
    result = np.empty(len(best))
    for n in np.unique(faces[best]):
        chosen = faces[best] == n
        result[chosen] = far_at(calibration, top[chosen], int(n))
    return result


def open_set_curve(people: People, rows: np.ndarray, calibration: Calibration, size: int,
                   rng: np.random.Generator) -> OpenSetCurve | None:
    """Per-comparison FARs that keep each FPIR on the grid, over random galleries of `size` people of `rows`
    (None when `rows` hold too few people)."""
    found = []
    for enrolled, _, _, strangers in _galleries(people, rows, size, rng):
        templates = np.stack([mean_template(people.vectors[e]) for e in enrolled])
        faces = np.array([len(e) for e in enrolled])
        found.append(_best_match_far(calibration, people, strangers, templates, faces))
    if not found:
        return None
    ranked = np.sort(np.concatenate(found))
    fpirs, fars = [], []
    for fpir in FAR_GRID:
        allowed = math.floor(fpir * len(ranked))
        if allowed < MIN_ACCEPTED:
            break
        fpirs.append(fpir)
        fars.append(float(np.nextafter(ranked[allowed], 0)))  # the (allowed+1)-th most similar stranger is refused
    if not fpirs:
        return None
    return OpenSetCurve(identities=size, fpir=fpirs, comparison_far=fars, probes=len(ranked))


class _Row:
    """A decision measured at one size and FAR: the first field names the size, Rates and the last count add up."""

    @property
    def key(self) -> tuple[int, float]:
        first = fields(self)[0].name
        return getattr(self, first), self.far

    def __add__(self, other: Self) -> Self:
        names = [f.name for f in fields(self)]
        summed = {n: getattr(self, n) + getattr(other, n) for n in names
                  if isinstance(getattr(self, n), Rate) or n == names[-1]}
        return replace(self, **summed)

    def to_dict(self) -> dict[str, object]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {n: v.to_dict() if isinstance(v, Rate) else v for n, v in values.items()}


@dataclass(frozen=True)
class VerifyRow(_Row):
    """Verify against identities of `faces` faces at the threshold named `far`."""

    faces: int
    far: float
    observed_far: Rate
    frr: Rate
    templates: int


@dataclass(frozen=True)
class IdentifyRow(_Row):
    """Open-set identification over `identities` identities at FPIR `far`."""

    identities: int
    far: float
    fpir: Rate
    fnir: Rate
    galleries: int


def verify_rows(scores: Scores, calibration: Calibration, fars: Sequence[float]) -> list[VerifyRow]:
    """FAR and FRR at each named FAR's threshold; impostor trials pair every probe photo of a person with every
    template of everyone else."""
    people = len(scores.probe_photos)
    genuine_trials = np.bincount(scores.genuine_person, minlength=people)
    rows = []
    for far in fars:
        threshold = threshold_at(calibration, far, scores.faces)
        accepted, refused = scores.impostor >= threshold, scores.genuine < threshold
        observed_far = Rate.of_people(people, scores.impostor_probe[accepted], scores.impostor_template[accepted],
                                      scores.probe_photos, scores.templates_per_person)
        frr = Rate.of_people(people, scores.genuine_person[refused], None, genuine_trials)
        rows.append(VerifyRow(scores.faces, far, observed_far, frr, scores.templates))
    return rows


def _galleries(people: People, rows: np.ndarray, size: int, rng: np.random.Generator) -> Iterator[
        tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]]:
    """Random galleries of `size` people of `rows`: (enrolled rows per identity, mated probe rows, their gallery
    position, non-mated probe rows). People with spare photos are enrolled first, so most identities have
    genuine probes; everyone left out gives never-enrolled probes."""
    person = people.person[rows]
    who, counts = np.unique(person, return_counts=True)
    for _ in range(GALLERY_DRAWS):
        order = rng.permutation(len(who))
        order = np.concatenate([order[counts[order] > 1], order[counts[order] == 1]])[:size]
        if len(order) < size or len(order) == len(who):
            return  # not enough people for this gallery and a never-enrolled probe
        enrolled, mated, position = [], [], []
        for slot, index in enumerate(order):
            own = rng.permutation(rows[person == who[index]])
            keep = min(MAX_ENROLLED, max(1, len(own) - 1))
            enrolled.append(own[:keep])
            mated.extend(own[keep:])
            position.extend([slot] * len(own[keep:]))
        strangers = rows[~np.isin(person, who[order])]
        yield enrolled, np.array(mated, np.int64), np.array(position, np.int64), strangers


def _matched(people: People, probes: np.ndarray, templates: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """The gallery position each probe (rows of People) matches: its best template if that reaches its own
    threshold, else -1."""
    scores = people.gallery_scores(probes, templates)
    best = scores.argmax(axis=1) if len(templates) else np.zeros(len(probes), np.int64)
    return np.where(scores[np.arange(len(best)), best] >= limit[best], best, -1)


def identify_rows(people: People, rows: np.ndarray, calibration: Calibration, far: float, seed: int) -> list[IdentifyRow]:
    """FPIR and FNIR of open-set identification at `far`, per gallery size, as the service decides it."""
    rng = np.random.default_rng(seed)
    count = len(people.person_set)
    found = []
    for size in GALLERY_SIZES:
        fpirs, fnirs = [], []
        for enrolled, mated, position, strangers in _galleries(people, rows, size, rng):
            templates = np.stack([mean_template(people.vectors[e]) for e in enrolled])
            faces = np.array([len(e) for e in enrolled])
            per_comparison = comparison_far(calibration, far, size)
            thresholds = {n: threshold_at(calibration, per_comparison, int(n)) for n in np.unique(faces)}
            limit = np.array([thresholds[n] for n in faces])
            matched = _matched(people, strangers, templates, limit)
            identity = np.array([people.person[e[0]] for e in enrolled])
            stranger = people.person[strangers]
            # a false match weighs both the stranger and the identity it matched: either may be the cause
            fpirs.append(Rate.of_people(count, stranger[matched >= 0], identity[matched[matched >= 0]],
                                        np.bincount(stranger, minlength=count)))
            missed = _matched(people, mated, templates, limit) != position
            fnirs.append(Rate.of_people(count, people.person[mated][missed], None,
                                        np.bincount(people.person[mated], minlength=count)))
        if fpirs:
            found.append(IdentifyRow(size, far, sum(fpirs[1:], fpirs[0]), sum(fnirs[1:], fnirs[0]), len(fpirs)))
    return found
