"""`facever evaluate identities`: the identity-decision protocol on LFW as a JSON report, a plot and a summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from matplotlib.figure import Figure

from service.vision.model_card import Calibration
from training.evaluation.identities import (
    NAMED_FARS,
    REPORTED_SIZES,
    IdentifyRow,
    Outliers,
    People,
    ScoringRow,
    VerifyRow,
    calibrate,
    compare_scorings,
    identify_rows,
    impostor_outliers,
    template_scores,
    verify_rows,
)
from training.evaluation.person_rates import Rate

Row = TypeVar("Row", VerifyRow, IdentifyRow)
SCORED_SIZES = (3, 5)  # template sizes at which the two ways of scoring an identity are compared
HALVES = ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9))  # people.txt sets: each half calibrates the other


@dataclass(frozen=True)
class IdentityReport:
    dataset: str
    model: str
    onnx_sha256: str
    default_far: float
    seed: int
    n_images: int
    n_people: int
    calibration: Calibration  # from every person: what `facever calibrate` writes into the card
    verify: list[VerifyRow]  # out of sample: each half's rates at the other half's thresholds, pooled
    identify: list[IdentifyRow]
    outliers: list[Outliers]  # per half: impostor pairs above OUTLIER_COSINE
    scorings: list[ScoringRow]  # mean template against best face, FRR at equal FAR (why the service averages)
    person_names: tuple[str, ...] = ()  # (n_people,) names of the people the rates' error pairs index

    def to_dict(self) -> dict[str, Any]:
        identify = [{**r.to_dict(), "most_matched": most_matched(r.fpir, self.person_names)} for r in self.identify]
        rates = {"verify": [r.to_dict() for r in self.verify], "identify": identify}
        return {"protocol": "identities", "dataset": self.dataset, "model": self.model,
                "onnx_sha256": self.onnx_sha256, "default_far": self.default_far, "seed": self.seed,
                "n_images": self.n_images, "n_people": self.n_people,
                "calibration": self.calibration.model_dump(), **rates,
                "outliers": [asdict(o) for o in self.outliers], "scorings": [asdict(r) for r in self.scorings]}



def _verify_label(faces: int) -> str:
    """A verify row's name, as the README and the API docs call the decision."""
    return "verify, photo against photo" if faces == 1 else f"verify against an identity of {faces} faces"

def most_matched(fpir: Rate, names: tuple[str, ...], shown: int = 5) -> list[dict[str, Any]]:
    """The enrolled people who drew the most false matches of never-enrolled probes, with how many: when a few
    people draw most of them, the FPIR depends on whether they are enrolled (the width of its interval)."""
    who, count = np.unique(fpir.error_pairs[:, 1], return_counts=True)
    return [{"identity": names[who[k]] if names else str(who[k]), "false_matches": int(count[k])}
            for k in np.argsort(-count, kind="stable")[:shown]]


def _pooled(rows: list[Row]) -> list[Row]:
    """The two halves' rows of the same decision and FAR added up (errors and trials)."""
    merged: dict[tuple[int, float], Row] = {}
    for row in rows:
        merged[row.key] = merged[row.key] + row if row.key in merged else row
    return list(merged.values())


def identity_report(
    people: People, dataset: str, model: str, onnx_sha256: str, default_far: float, seed: int,
    names: list[str] | None = None,
) -> IdentityReport:
    """Calibrate on each half of LFW's people and measure on the other; calibrate the card on everyone."""
    fars = sorted({default_far, *NAMED_FARS}, reverse=True)
    verify, identify = [], []
    for calibrating, measured in (HALVES, HALVES[::-1]):
        calibration = calibrate(people, people.rows_of(calibrating), seed, default_far, "half")
        rows = people.rows_of(measured)
        rng = np.random.default_rng(seed + 1)
        for faces in REPORTED_SIZES:
            scores = template_scores(people, rows, faces, rng)
            verify += verify_rows(scores, calibration, fars) if scores.templates else []
        for far in fars[:2]:
            identify += identify_rows(people, rows, calibration, far, seed + 2)
    source = f"{dataset}: {len(people.person)} images of {len(people.person_set)} people (every person)"
    return IdentityReport(dataset, model, onnx_sha256, default_far, seed, len(people.person),
                          len(people.person_set), calibrate(people, np.arange(len(people.person)), seed, default_far,
                                                            source), _pooled(verify), _pooled(identify),
                          [impostor_outliers(people, half, names or [str(i) for i in people.person]) for half in HALVES],
                          compare_scorings(people, SCORED_SIZES, NAMED_FARS, seed), people.names)


def plot_observed_far(report: IdentityReport, path: Path) -> Path:
    """Observed against promised FAR (verify, per template size) and FPIR (identify, per gallery size), with 95 %
    intervals; the diagonal is a threshold that keeps its promise exactly."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    for faces in REPORTED_SIZES:
        rows = [r for r in report.verify if r.faces == faces]
        _points(ax, [r.far for r in rows], [r.observed_far for r in rows], _verify_label(faces), "o")
    for size in sorted({r.identities for r in report.identify}):
        rows = [r for r in report.identify if r.identities == size]
        _points(ax, [r.far for r in rows], [r.fpir for r in rows], f"identify, {size} identities (FPIR)", "s")
    promised = sorted({r.far for r in report.verify})
    ax.plot(promised, promised, "k--", lw=1, label="promised")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("false-accept rate the threshold is named for")
    ax.set_ylabel("observed on people not used to calibrate")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(f"{report.model} on {report.dataset}: promised vs observed FAR")
    ax.legend(fontsize="x-small", loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def _points(ax: Any, fars: list[float], rates: list[Rate], label: str, marker: str) -> None:
    shown = [(f, r) for f, r in zip(fars, rates) if r.errors]  # a zero count has no place on a log axis
    if not shown:
        return
    x = np.array([f for f, _ in shown])
    y = np.array([r.rate for _, r in shown])
    spread = np.array([[r.rate - r.low for _, r in shown], [r.high - r.rate for _, r in shown]])
    ax.errorbar(x, y, yerr=spread, fmt=marker, ms=4, capsize=2, label=label)


def summary(report: IdentityReport) -> str:
    """The report for a terminal: every rate out of sample (each half of the people at the other half's thresholds)."""
    return f"{report.model} on {report.dataset}: {report.n_images} images, {report.n_people} people\n" + named_far_table(
        report)


def _cell(rate: Rate) -> str:
    return f"{100 * rate.rate:.3g} % ({100 * rate.low:.3g}–{100 * rate.high:.3g})"


def _one_in(rate: Rate) -> str:
    if not rate.errors:
        return f"none in {rate.trials:,}"
    if rate.rate >= 0.15:  # one decimal: a whole "N in 10" would read 25 % as 2 or 3 in 10
        return f"about {round(10 * rate.rate, 1):g} in 10"
    return f"about 1 in {1 / rate.rate:,.0f}"


def defaults_table(report: IdentityReport) -> str:
    """The error rates at the card's default FAR, in figures and plain words (the README's table)."""
    far = report.default_far
    lines = ["| decision | false accepts (95 % interval) | genuine attempts refused (95 % interval) | in plain words |",
             "|---|---|---|---|"]
    for r in (r for r in report.verify if r.far == far):
        what = _verify_label(r.faces)
        lines.append(f"| {what} | {_cell(r.observed_far)} | {_cell(r.frr)} | {_one_in(r.observed_far)} impostors "
                     f"accepted, {_one_in(r.frr)} genuine attempts refused |")
    for r in (r for r in report.identify if r.far == far):
        lines.append(f"| identify among {r.identities:,} identities (never-enrolled probe matched; enrolled person "
                     f"not matched to themselves) | {_cell(r.fpir)} | {_cell(r.fnir)} | {_one_in(r.fpir)} strangers "
                     f"matched to someone, {_one_in(r.fnir)} enrolled people missed |")
    return "\n".join(lines)


def named_far_table(report: IdentityReport) -> str:
    """Observed against promised FAR at every threshold name measured."""
    lines = ["| decision | FAR named | observed FAR or FPIR (95 % interval) | FRR or FNIR (95 % interval) | trials |",
             "|---|---|---|---|---|"]
    for r in report.verify:
        lines.append(f"| {_verify_label(r.faces)} | {r.far:g} | {_cell(r.observed_far)} | {_cell(r.frr)} "
                     f"| {r.observed_far.trials:,} impostor / {r.frr.trials:,} genuine |")
    for r in report.identify:
        lines.append(f"| identify among {r.identities:,} | {r.far:g} | {_cell(r.fpir)} | {_cell(r.fnir)} | "
                     f"{r.fpir.trials:,} never-enrolled / {r.fnir.trials:,} enrolled probes, {r.galleries} galleries |")
    return "\n".join(lines)


def scoring_table(report: IdentityReport) -> str:
    """Genuine attempts refused by a mean template and by the best single face, at the same FAR."""
    lines = ["| enrolled faces | FAR | refused, best face | refused, mean template |", "|---|---|---|---|"]
    lines += [f"| {r.faces} | {r.far:g} | {100 * r.frr['best face']:.1f} % | {100 * r.frr['mean template']:.1f} % |"
              for r in report.scorings]
    return "\n".join(lines)
