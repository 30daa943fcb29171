"""`facever distill gather-celeba|gather-utkface|teach|lfw|overlap|duplicates|rows`: the unlabelled faces, the
teacher's cache, its LFW row, the near-duplicate search and the comparison rows."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from service.config import REPO_ROOT
from training.distill.teacher import HOG, LOOSE, PHOTO, TEACHER_NAME
from training.evaluation.cli import DEFAULT_CACHE, DEFAULT_LFW

LFW_VECTORS = DEFAULT_CACHE / "teacher-lfw.npz"


def _lfw_images(lfw_dir: Path) -> list[str]:
    return sorted(str(p) for p in (lfw_dir / "lfw-deepfunneled").glob("*/*.jpg"))


def lfw_teacher(lfw_dir: Path, workers: int, source: str = LOOSE):  # Features (imported lazily, with dlib)
    from training.distill.lfw import teacher_features

    cache = LFW_VECTORS if source == LOOSE else LFW_VECTORS.with_name(f"teacher-lfw-{source}.npz")
    return teacher_features(_lfw_images(lfw_dir), workers, cache, source)


def cmd_gather_celeba(args: argparse.Namespace) -> None:
    from training.distill.celeba_extra import gather, labelled_identities, read_identities

    done = gather(args.copies, read_identities(args.identities), labelled_identities(args.labelled), args.out)
    print(f"{args.out}: {done.photos} photos of {done.people} people; skipped {done.labelled_people} of people the "
          f"labelled subset holds, {done.duplicates} found again in a later copy, {done.unknown} not in "
          f"{args.identities.name}")


def cmd_gather_utkface(args: argparse.Namespace) -> None:
    from training.distill.utkface import ADULT, CHILD, split_by_age

    try:
        done = split_by_age(args.source, args.out, args.child_age)
    except (FileExistsError, ValueError) as error:
        raise SystemExit(f"facever distill gather-utkface: {error}") from None
    print(f"{args.out}: {done.adults} faces aged {args.child_age}+ in {args.out / ADULT}, {done.children} younger in "
          f"{args.out / CHILD}; {done.unnamed} files without an age in their name skipped")


def cmd_teach(args: argparse.Namespace) -> None:
    from training.distill.cache import teach

    for data_dir in args.data_dir:
        cache = teach(data_dir, args.workers)
        print(f"{data_dir}: teacher vectors for {len(cache.shards)} shards")


def cmd_lfw(args: argparse.Namespace) -> None:
    from training.evaluation.pairs import lfw_pairs
    from training.evaluation.protocol import pair_report, present_pairs, summary

    listed = lfw_pairs(args.lfw_dir / "pairs.txt", args.lfw_dir / "lfw-deepfunneled")
    pairs, missing = present_pairs(listed)
    source = HOG if args.hog_box else PHOTO if args.from_photo else LOOSE
    features = lfw_teacher(args.lfw_dir, args.workers, source)
    name = TEACHER_NAME if source == LOOSE else f"{TEACHER_NAME}-{source}"
    report = pair_report("lfw", name, "", pairs, features, missing, len(listed) - len(pairs))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"lfw-{name}.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    print(summary(report))


def cmd_overlap(args: argparse.Namespace) -> None:
    from training.distill.overlap import find_overlap

    lfw = lfw_teacher(args.lfw_dir, args.workers)
    for data_dir in args.data_dir:
        overlap = find_overlap(data_dir, lfw, args.threshold)
        print(f"{data_dir}: {len(overlap.excluded)} of {overlap.training_faces} faces near-duplicate one of "
              f"{overlap.lfw_images} LFW images (teacher cosine >= {overlap.threshold})")


def cmd_duplicates(args: argparse.Namespace) -> None:
    from training.distill.duplicates import measure

    lfw = lfw_teacher(args.lfw_dir, args.workers)
    print(json.dumps(asdict(measure(lfw, args.lfw_dir, args.images, args.workers)), indent=1))


def cmd_rows(args: argparse.Namespace) -> None:
    import shlex
    import shutil

    from training.distill.fit import Fit
    from training.distill.report import SECTION, earlier_lines, section
    from training.distill.rows import PREFIX, RECIPE, row_epochs, rows
    from training.doc_sections import replace_section
    from training.face_repro.run import LfwPairs, RowResult, result_path, run_row
    from training.quick_eval import aligned_lfw

    all_rows = rows()
    unknown = set(args.rows or []) - {r.key for r in all_rows}
    if unknown:
        raise SystemExit(f"unknown rows {sorted(unknown)}; known: {[r.key for r in all_rows]}")
    to_run = [row for row in all_rows if args.rows is None or row.key in args.rows]  # `--rows` alone: report only
    lfw = LfwPairs(*aligned_lfw(args.lfw_dir, None, args.workers, DEFAULT_CACHE)) if to_run else None
    extra = tuple(args.overrides)
    for row in to_run:
        try:
            epochs = row_epochs(row, args.epochs, extra)
        except FileNotFoundError as missing:  # a row's data not prepared (e.g. UTKFace): the others still run
            if args.rows is not None:
                raise SystemExit(f"row {row.key}: {missing}") from None
            print(f"row {row.key} skipped: {missing}")
            continue
        result = run_row(row, epochs, lfw, args.out_dir, extra, RECIPE, PREFIX)
        kept = args.results / f"{row.key}.json"  # the report's source, kept beside it (runs/ is not)
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result_path(args.out_dir, row, PREFIX), kept)
        print(f"{row.label}: LFW {100 * result.lfw_mean:.2f} ± {100 * result.lfw_std:.2f} %")
    results = {r.key: RowResult.load(p) for r in all_rows if (p := args.results / f"{r.key}.json").exists()}
    if args.fit:
        measure_fits(args, results, extra)
    fits = {key: [Fit(**f) for f in json.loads(p.read_text())] for key in results
            if (p := args.results / f"{key}.fit.json").exists()}
    shaping = ["--epochs", f"{args.epochs:g}", *(part for o in args.overrides for part in ("--set", o))]
    command = " ".join(["facever distill rows", *map(shlex.quote, shaping)])
    teacher_report = REPO_ROOT / "docs" / "evaluation" / f"lfw-{TEACHER_NAME}.json"
    document = args.docs / "reproduction.md"
    earlier = earlier_lines(document.read_text()) if document.exists() else {}
    body = section(command, args.epochs, all_rows, results, teacher_report, earlier, fits)
    replace_section(document, SECTION, body, "# Reproduction report\n")
    print(f"wrote {args.docs / 'reproduction.md'}")


def measure_fits(args: argparse.Namespace, results: dict[str, Any], extra: tuple[str, ...]) -> None:
    """Each trained row's fit to the teacher (training.distill.fit) on the recipe's folders and LFW, kept as
    RESULTS/<key>.fit.json; rows whose checkpoint is gone or that had no teacher are skipped."""
    import numpy as np

    from training.config import load_config
    from training.distill.fit import FaceSample, checkpoint_fit, packed_sample, sample
    from training.distill.rows import RECIPE
    from training.quick_eval import aligned_lfw

    cfg = load_config(Path(RECIPE), list(extra))
    _, aligned = aligned_lfw(args.lfw_dir, None, args.workers, DEFAULT_CACHE)
    teacher = lfw_teacher(args.lfw_dir, args.workers)
    rows = teacher.rows(aligned.paths)
    found = np.flatnonzero(~aligned.fallback & ~teacher.fallback[rows])  # a face found by both pipelines
    lfw = found[sample(len(found), args.fit_faces)]
    samples = [*(packed_sample(Path(folder), args.fit_faces) for folder in [cfg.data.dir, *cfg.distill.unlabelled]),
               FaceSample("LFW", None, aligned.crops[lfw], teacher.vectors[rows[lfw]])]
    for key, result in results.items():
        if not Path(result.checkpoint).exists():
            print(f"row {key}: checkpoint {result.checkpoint} is gone; its fit is not measured")
            continue
        fits = checkpoint_fit(Path(result.checkpoint), samples)
        if fits is not None:
            (args.results / f"{key}.fit.json").write_text(json.dumps([asdict(f) for f in fits], indent=1) + "\n")
            summary = "; ".join(f"{f.faces} cos {f.feature_cosine:.3f} r {f.relation_r:.3f}" for f in fits)
            print(f"row {key}: {summary}")


def build_parser() -> argparse.ArgumentParser:
    from training.distill.overlap import DUPLICATE_COSINE
    from training.distill.utkface import CHILD_AGE

    parser = argparse.ArgumentParser(prog="facever distill", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    common.add_argument("--lfw-dir", type=Path, default=DEFAULT_LFW, help="holds pairs.txt and lfw-deepfunneled/")
    gather = sub.add_parser("gather-celeba", help="collect the unlabelled CelebA photos of the labelled subset's copies")
    gather.add_argument("copies", type=Path, nargs="+", help="folders of CelebA photos (searched recursively), "
                        "in order of preference")
    gather.add_argument("--identities", type=Path, required=True, help="CelebA's identity_CelebA.txt")
    gather.add_argument("--labelled", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "celeba" / "manifest.csv",
                        help="the labelled subset's manifest.csv (its people are left out)")
    gather.add_argument("--out", type=Path, required=True, help="new folder: OUT/<identity>/<file>")
    utk = sub.add_parser("gather-utkface", help="split UTKFace's faces into adults and children by the age in "
                         "their file names")
    utk.add_argument("source", type=Path, help="folder of UTKFace faces (e.g. data/UTKFace/unlabeled/)")
    utk.add_argument("--out", type=Path, required=True, help="new folder: OUT/adult/<age>/ and OUT/child/<age>/")
    utk.add_argument("--child-age", type=int, default=CHILD_AGE, help=f"ages under this are children (default "
                     f"{CHILD_AGE})")
    teach = sub.add_parser("teach", parents=[common], help="cache the teacher's vector of every face of packed folders")
    teach.add_argument("data_dir", type=Path, nargs="+", help="folders made by `facever prepare` (with loose crops)")
    lfw = sub.add_parser("lfw", parents=[common], help="the teacher's own row on all LFW pairs (10 folds)")
    lfw.add_argument("--from-photo", action="store_true", help="cut dlib's chip from the photo, not from the "
                     "loose crop the training faces are kept as (which holds a large face at lower resolution)")
    lfw.add_argument("--hog-box", action="store_true", help="as --from-photo, inside the box of dlib's own HOG "
                     "detector where it finds the face (else the mapped MTCNN box)")
    lfw.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "evaluation", help="folder for the JSON report")
    overlap = sub.add_parser("overlap", parents=[common], help="find (and mark for dropping) LFW near-duplicates")
    overlap.add_argument("data_dir", type=Path, nargs="+", help="packed folders with a teacher cache")
    overlap.add_argument("--threshold", type=float, default=DUPLICATE_COSINE, help="teacher cosine of a duplicate")
    dup = sub.add_parser("duplicates", parents=[common], help="measure the duplicate threshold on LFW")
    dup.add_argument("--images", type=int, default=500, help="LFW images re-encoded as training-like copies")
    table = sub.add_parser("rows", parents=[common], help="train and score the distillation rows (a)-(j)")
    table.add_argument("--rows", nargs="*", help="row keys to run (default: all, in the order of rows.py; none: "
                       "only rewrite the report)")
    table.add_argument("--epochs", type=float, default=7.0, help="epochs over the whole set (default 7)")
    table.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override the recipe for every row (repeatable)")
    table.add_argument("--fit", action="store_true", help="also measure how closely each trained row follows "
                       "the teacher on faces it saw and did not see (kept beside its result)")
    table.add_argument("--fit-faces", type=int, default=3000, help="faces sampled per set for --fit (default 3000)")
    table.add_argument("--out-dir", type=Path, default=Path("runs/distill"))
    table.add_argument("--results", type=Path, default=REPO_ROOT / "docs" / "evaluation" / "distill-rows",
                       help="folder of each row's result JSON, which the report is written from")
    table.add_argument("--docs", type=Path, default=REPO_ROOT / "docs", help="folder of reproduction.md")
    return parser


COMMANDS = {"gather-celeba": cmd_gather_celeba, "gather-utkface": cmd_gather_utkface, "teach": cmd_teach,
            "lfw": cmd_lfw, "overlap": cmd_overlap, "duplicates": cmd_duplicates,
            "rows": cmd_rows}


DISTILL_EXTRA = "pip install -e '.[distill]'"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except ModuleNotFoundError as error:
        if error.name not in {"dlib", "face_recognition_models"}:
            raise
        print(f"facever distill: the teacher needs the '{error.name}' package, part of the distill extra: "
              f"{DISTILL_EXTRA}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
