"""`python -m training.face_repro [--epochs 2] [--rows KEY ...]`: train and score the face-scale loss comparison.

Each row trains the shared recipe with its own loss, is scored on all LFW pairs and leaves
runs/face_repro/face_repro_<row>/result.json; the docs section is rebuilt from every result present.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from service.config import REPO_ROOT
from training.doc_sections import replace_section
from training.evaluation.cli import DEFAULT_CACHE, DEFAULT_LFW
from training.face_repro.report import SECTION, RunInfo, faces_section
from training.face_repro.rows import rows
from training.face_repro.run import LfwPairs, RowResult, result_path, run_row
from training.quick_eval import aligned_lfw


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.face_repro", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=2.0, help="training length of every row")
    parser.add_argument("--rows", nargs="*", help="row keys to run (default: all, in the order of rows.py)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override the shared recipe for every row, e.g. --set width=1.0 (repeatable)")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/face_repro"))
    parser.add_argument("--lfw-dir", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--workers", type=int, default=2, help="LFW alignment threads (first run only)")
    parser.add_argument("--docs", type=Path, default=REPO_ROOT / "docs", help="folder of reproduction.md")
    args = parser.parse_args(argv)
    all_rows = rows(args.epochs)
    unknown = set(args.rows or []) - {r.key for r in all_rows}
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; known: {[r.key for r in all_rows]}")
    lfw = LfwPairs(*aligned_lfw(args.lfw_dir, None, args.workers, args.cache_dir))
    for row in all_rows:
        if args.rows is None or row.key in args.rows:
            result = run_row(row, args.epochs, lfw, args.out_dir, tuple(args.overrides))
            print(f"{row.label}: LFW {100 * result.lfw_mean:.2f} ± {100 * result.lfw_std:.2f} %, Sep {result.sep_mean:.3f}")
    results = {r.key: RowResult.load(p) for r in all_rows if (p := result_path(args.out_dir, r)).exists()}
    # the arguments that decide the numbers (not which rows this invocation happened to add)
    shaping = ([] if args.epochs == parser.get_default("epochs") else ["--epochs", f"{args.epochs:g}"]) + [
        part for override in args.overrides for part in ("--set", override)]
    info = RunInfo(" ".join(["python -m training.face_repro", *map(shlex.quote, shaping)]), args.epochs)
    section = faces_section(info, all_rows, results, args.docs, args.out_dir)
    replace_section(args.docs / "reproduction.md", SECTION, section, "# Reproduction report\n")
    print(f"wrote {args.docs / 'reproduction.md'}")


if __name__ == "__main__":
    main()
