"""The generated MNIST section: per-row intervals, paired IAM gains with their verdicts, the angle table."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from training.toy.experiments import IAM, RF, RowResult, iam_rows, rf_rows
from training.toy.fit import RunResult
from training.toy.report import RunInfo, mnist_section
from training.toy.stats import paired_gain, summarise

BASE = [97.0, 97.4, 96.8, 97.2, 97.1]


def fake_run(accuracy: float, classes: int, dim: int, seed: int) -> RunResult:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(20) % classes
    weight = torch.randn(classes, dim, generator=g)
    return RunResult([1.0, 0.5], torch.randn(20, dim, generator=g), labels, accuracy, weight, None, 30.0)


def rows(accuracies: list[list[float]], table: list, classes: int, dim: int) -> list[RowResult]:
    return [
        RowResult(row, [fake_run(a, classes, dim, seed) for seed, a in enumerate(accs)])
        for row, accs in zip(table, accuracies, strict=True)
    ]


def test_section_reports_intervals_and_paired_gains() -> None:
    consistent = [b + d for b, d in zip(BASE, [0.50, 0.55, 0.45, 0.52, 0.48], strict=True)]
    mixed = [b + d for b, d in zip(BASE, [0.3, -0.2, 0.1, -0.4, 0.25], strict=True)]
    iam = rows([BASE, consistent, BASE, mixed], iam_rows(IAM.s), 10, 3)
    rf = rows([[99.5, 99.6, 99.4]] * 4, rf_rows(RF, 100), 3, 2)
    text = mnist_section(RunInfo("python -m training.toy all", 2, 32, 12.0), (iam, IAM), (rf, RF))

    base = summarise(BASE)
    assert f"| {base.mean:.2f} ± {base.std:.2f} | [{base.low:.2f}, {base.high:.2f}] |" in text
    up, noise = paired_gain(BASE, consistent), paired_gain(BASE, mixed)
    assert f"| {up.mean:+.2f} | [{up.low:+.2f}, {up.high:+.2f}] | {up.p_value:.3f} | **yes** |" in text
    assert f"| {noise.p_value:.3f} | no |" in text
    assert "5 seeds per IAM row, 3 per RegularFace row" in text
    assert f"{(4 * 5 + 4 * 3) * 30 / 60:.0f} min of single-thread time" in text  # 32 runs × 30 s
    assert "trained 32 of them, 2 at a time, in 12 min of wall time" in text


def test_a_rerender_states_the_stored_training_time_not_its_own() -> None:
    iam = rows([BASE] * 4, iam_rows(IAM.s), 10, 3)
    rf = rows([[99.5, 99.6, 99.4]] * 4, rf_rows(RF, 100), 3, 2)
    text = mnist_section(RunInfo("python -m training.toy all", 2, 0, 0.01), (iam, IAM), (rf, RF))
    assert f"{32 * 30 / 60:.0f} min of single-thread time in all (the sum of the 32 runs' own times)" in text
    assert "retraining none" in text and "wall time" not in text
    assert text.count("| Softmax") == 2 and "Softmax + exclusive reg." in text
