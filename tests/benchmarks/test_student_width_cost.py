"""benchmarks/student_width_cost.py on a tiny batch: every width timed in every round, and a report that names them."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from benchmarks.student_width_cost import markdown, measure


def test_each_width_is_timed_every_round_and_reports_its_own_network() -> None:
    result = measure([0.25, 0.5], batch=2, rounds=2)
    quarter, half = result["rows"]
    assert (quarter["width"], half["width"], quarter["ratio_to_first"]) == (0.25, 0.5, 1.0)
    assert 2 < half["parameters"] / quarter["parameters"] < 4  # doubled channels: convs x4, the 512-D FC1 x2
    assert all(row["median_ms"] > 0 and row["min_ms"] <= row["median_ms"] for row in result["rows"])
    report = markdown(result, ["--batch", "2"])
    assert "| 0.5 |" in report and "--batch 2" in report
