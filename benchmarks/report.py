"""Write benchmark results: a JSON file per benchmark and its own section of docs/benchmarks.md."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np

from training.doc_sections import replace_section

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
REPORT = ROOT / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nEach section is written by the script it names; re-run the script to refresh it.\n"


def machine() -> dict:
    """What the numbers were measured on."""
    import onnxruntime

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
    }


def load1() -> float:
    """The 1-minute load average: the cores are shared, so each block records it before and after."""
    return round(os.getloadavg()[0], 2)


def percentiles(samples_s: list[float]) -> dict:
    """p50/p95/p99 and mean, in milliseconds."""
    ms = np.asarray(samples_s) * 1000
    return {
        "n": int(ms.size),
        "mean_ms": round(float(ms.mean()), 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def write_json(name: str, payload: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section of docs/benchmarks.md that belongs to benchmark `name`."""
    replace_section(REPORT, name, markdown, HEADER)


def save_plot(fig, path: Path) -> None:
    """Write a matplotlib figure as the PNG a section links to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
