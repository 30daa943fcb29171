"""`python -m training.toy all`: run both MNIST reproductions (resumable), write plots and the doc section.
`python -m training.toy search`: run the recipe search behind IAM Table 2's settings and write its doc section."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import torch

from service.config import REPO_ROOT
from training.doc_sections import replace_section
from training.toy.experiments import IAM, RF
from training.toy.plots import Panel, plane_panels, sphere_panels
from training.toy.report import IAM_PLOT, RF_PLOT, SECTION, RunInfo, mnist_section
from training.toy.runs import run_tables
from training.toy.search import SEARCH, Point, search_section
from training.toy.search import SECTION as SEARCH_SECTION

HEADER = "# Reproduction report\n"


def write_all(args: argparse.Namespace, command: str, started: float) -> Path:
    tables = run_tables([(IAM, args.iam_seeds), (RF, args.rf_seeds)], args.store, args.workers, args.threads)
    iam, rf = tables.experiments
    (args.docs / "reproduction").mkdir(parents=True, exist_ok=True)
    first = [(r.row.name, r.runs[0]) for r in iam]
    sphere_panels([Panel(name, run.test_features, run.test_labels) for name, run in first], args.docs / IAM_PLOT)
    panels = [
        Panel(r.row.name, r.runs[0].test_features, r.runs[0].test_labels,
              r.runs[0].centers if r.row.centres == "centers" else r.runs[0].class_weight)
        for r in rf
    ]  # fmt: skip
    plane_panels(panels, args.docs / RF_PLOT, RF.digits)
    info = RunInfo(command, args.workers, tables.trained, (time.perf_counter() - started) / 60)
    replace_section(args.docs / "reproduction.md", SECTION, mnist_section(info, (iam, IAM), (rf, RF)), HEADER)
    return args.docs / "reproduction.md"


def write_search(args: argparse.Namespace, command: str, started: float) -> Path:
    tables = run_tables([(settings, 1) for settings in SEARCH], args.store, args.workers, args.threads)
    points = [Point(settings, row.runs[0]) for settings, [row] in zip(SEARCH, tables.experiments, strict=True)]
    info = RunInfo(command, args.workers, tables.trained, (time.perf_counter() - started) / 60)
    replace_section(args.docs / "reproduction.md", SEARCH_SECTION, search_section(info, points, IAM), HEADER)
    return args.docs / "reproduction.md"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.toy", description=__doc__)
    parser.add_argument("command", choices=["all", "search"])
    parser.add_argument("--iam-seeds", type=int, default=5, help="seeds per IAM Table 2 row")
    parser.add_argument("--rf-seeds", type=int, default=3, help="seeds per RegularFace Fig. 4 row")
    parser.add_argument("--workers", type=int, default=2, help="training processes at once")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per process (see below)")
    parser.add_argument("--store", type=Path, default=REPO_ROOT / "runs" / "toy", help="one file per finished run")
    parser.add_argument("--docs", type=Path, default=REPO_ROOT / "docs", help="folder of reproduction.md")
    args = parser.parse_args(argv)
    torch.use_deterministic_algorithms(True)
    # 2 threads on 2 cores shared with other jobs made LeNet steps 2.4x slower (OpenMP barriers wait on busy cores)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    command = "python -m training.toy " + shlex.join(argv if argv is not None else sys.argv[1:])
    write = write_all if args.command == "all" else write_search
    path = write(args, command, started)
    print(f"wrote {path} in {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
