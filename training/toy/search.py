"""The single-seed recipe search behind IAM Table 2's settings (`python -m training.toy search`): its runs and its
doc section."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from training.toy.data import Mnist
from training.toy.experiments import IamSettings, Row, iam_rows
from training.toy.fit import TRAIN_EVAL, FitConfig, RunResult
from training.toy.report import RunInfo, training_time

SECTION = "mnist-search"  # docs/reproduction.md's block the search owns
BATCH, WIDTH = 32, 0.25


@dataclass(frozen=True)
class SearchSettings(IamSettings):
    """IAM Table 2's setup trained on its first row (Eq. 3, NormFace) only, one recipe per instance."""

    tag: ClassVar[str] = "search"

    def rows(self, data: Mnist) -> list[Row]:
        return iam_rows(self.s)[:1]


def recipe(optimizer: Literal["adam", "sgd"], weight_decay: float, s: float, epochs: int) -> SearchSettings:
    """Adam at lr 1e-3 or SGD (Nesterov) at lr 0.05, cosine decay, weight decay on the net only."""
    lr = 1e-3 if optimizer == "adam" else 0.05
    fit = FitConfig(epochs, BATCH, lr, weight_decay, optimizer=optimizer, head_weight_decay=False)
    return SearchSettings(fit, WIDTH, s)


SEARCH = [
    recipe("adam", 5e-4, 10, 10),
    recipe("adam", 5e-3, 10, 10),
    recipe("sgd", 5e-4, 10, 10),
    recipe("sgd", 5e-3, 10, 10),
    recipe("sgd", 1e-3, 10, 15),
    recipe("sgd", 5e-3, 16, 15),
    recipe("sgd", 5e-3, 10, 20),
]


def _optimiser(fit: FitConfig) -> str:
    return f"Adam lr {fit.lr:g}" if fit.optimizer == "adam" else f"SGD (Nesterov {fit.momentum:g}) lr {fit.lr:g}"


FACTORS: dict[str, Callable[[SearchSettings], str]] = {
    "optimiser": lambda p: _optimiser(p.fit),
    "weight decay": lambda p: f"{p.fit.weight_decay:g}",
    "s": lambda p: f"{p.s:g}",
    "epochs": lambda p: f"{p.fit.epochs:g}",
}


@dataclass(frozen=True)
class Point:
    settings: SearchSettings
    run: RunResult

    @property
    def factors(self) -> dict[str, str]:
        return {name: value(self.settings) for name, value in FACTORS.items()}

    @property
    def epochs_run(self) -> float:
        fit = self.settings.fit
        return len(self.run.losses) / math.ceil(self.settings.train_size / fit.batch_size)

    @property
    def train(self) -> str:
        return "n/a" if self.run.train_accuracy is None else f"{self.run.train_accuracy:.2f}"


def _one_factor_changes(points: list[Point]) -> list[str]:
    """A bullet for every pair of recipes that differ in exactly one factor, in table order."""
    lines = []
    for i, a in enumerate(points):
        for b in points[i + 1 :]:
            changed = [name for name in FACTORS if a.factors[name] != b.factors[name]]
            if len(changed) != 1:
                continue
            name = changed[0]
            same = ", ".join(f"{n} {v}" for n, v in a.factors.items() if n != name)
            lines.append(
                f"- {name} {a.factors[name]} → {b.factors[name]} ({same}): test {a.run.accuracy:.2f} → "
                f"{b.run.accuracy:.2f} % ({b.run.accuracy - a.run.accuracy:+.2f} points), train {a.train} → "
                f"{b.train} %."
            )
    return lines


def _chosen(points: list[Point], iam: IamSettings) -> list[str]:
    """Which row the IAM Table 2 runs use: the same recipe, except that they also decay the head."""
    same = [i for i, p in enumerate(points, 1) if replace(p.settings.fit, head_weight_decay=True) == iam.fit
            and (p.settings.s, p.settings.width) == (iam.s, iam.width)]  # fmt: skip
    return [
        (f"- The IAM Table 2 runs above use row {i}'s recipe with weight decay on the head as well, a radial pull "
        "that the projection of W after every step undoes.")
        for i in same[:1]
    ]  # fmt: skip


def search_section(info: RunInfo, points: list[Point], iam: IamSettings) -> str:
    """The table of `points` (one seed-0 run per recipe) and what it shows, in generated sentences."""
    first = points[0].settings
    rows = [
        f"| {' | '.join(p.factors.values())} | {p.train} | {p.run.accuracy:.2f} | {p.run.seconds / 60:.1f} |"
        for p in points
    ]
    best = max(points, key=lambda p: p.run.accuracy)
    best_recipe = ", ".join(f"{name} {value}" for name, value in best.factors.items())
    paper = iam_rows(first.s)[0].paper or math.nan
    fitted = max(p.run.train_accuracy or math.nan for p in points)
    per_epoch = [p.run.seconds / p.epochs_run for p in points]
    len_test = len(points[0].run.test_labels)
    return "\n".join([
        "### Recipe search for IAM Table 2", "",
        (f"Every number in this section was produced by `{info.command}`: one run (seed 0) of Eq. 3 (NormFace) "
        f"per recipe on IAM Table 2's setup: Table 1 CNN at width ×{first.width:g}, {first.train_size:,} training "
        f"samples (the fixed subset), batch {first.fit.batch_size}, cosine decay to 0, weight decay on the net but "
        f"not on the projected head. Train accuracy is scored on the first {TRAIN_EVAL:,} training samples, test "
        f"accuracy on all {len_test:,} test images. {training_time(info, [p.run for p in points])} The runs share "
        "the store (`--store`) of the IAM table's command, so a finished search only re-reads them."), "",
        f"| {' | '.join(FACTORS)} | train % | test % | minutes |",
        "|---" * (len(FACTORS) + 3) + "|",
        *rows, "",
        "Recipes that differ in one factor:", "",
        *_one_factor_changes(points), "",
        (f"- The best test accuracy, {best.run.accuracy:.2f} % ({best_recipe}), "
        f"is {paper - best.run.accuracy:.2f} points below the paper's Eq. 3 result ({paper:.2f} %); the paper "
        "does not say how long it trained."),
        *_chosen(points, iam),
        (f"- Width ×{first.width:g} instead of Table 1's full width: at this width the net fits up to {fitted:.2f} % "
        f"of the training samples it is scored on, and an epoch took {min(per_epoch):.0f}–{max(per_epoch):.0f} s "
        "on the shared CPU; we spent the CPU budget on epochs rather than on width."),
    ])  # fmt: skip
