"""`facever evaluate lfw|pairs|identities ...`: embed with a served model, print and write JSON + a PNG."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from service.config import REPO_ROOT, Settings
from training.evaluation.pairs import PairList, lfw_pairs, read_pair_list

if TYPE_CHECKING:
    from service.vision.cohort import Scoring
    from service.vision.pipeline import FacePipeline
    from training.evaluation.protocol import PairReport

DEFAULT_LFW = REPO_ROOT.parent / "shared" / "data" / "lfw"
DEFAULT_CACHE = REPO_ROOT / ".cache" / "evaluation"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facever evaluate", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--embedder", help="folder under models_dir (default: FACEVER_EMBEDDER / settings)")
    common.add_argument("--models-dir", type=Path, help="default: FACEVER_MODELS_DIR / the repo's models/")
    common.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "evaluation", help="folder for JSON + PNG")
    common.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="aligned-crop cache ('' to disable)")
    common.add_argument("--workers", type=int, default=1, help="alignment threads")
    common.add_argument("--plain", action="store_true",
                        help="score by the plain cosine even if the model ships a cohort (service/vision/cohort.py), "
                             "for comparison; results are written as <dataset>-plain-*")
    pairwise = argparse.ArgumentParser(add_help=False)
    pairwise.add_argument("--pairs", type=int, help="quick subset: the first N same and N different pairs per fold")
    pairwise.add_argument("--folds", type=int, help="with --pairs: only the first K folds")
    sub = parser.add_subparsers(dest="protocol", required=True)
    lfw = sub.add_parser("lfw", parents=[common, pairwise], help="LFW pairs.txt, 10 folds")
    lfw.add_argument("--lfw-dir", type=Path, default=DEFAULT_LFW, help="holds pairs.txt and lfw-deepfunneled/")
    identities = sub.add_parser("identities", parents=[common],
                                help="identity decisions on LFW: FAR per template size, open-set FPIR/FNIR")
    identities.add_argument("--lfw-dir", type=Path, default=DEFAULT_LFW, help="holds people.txt and lfw-deepfunneled/")
    identities.add_argument("--default-far", type=float, default=1e-2, help="the card's FAR for requests naming none")
    identities.add_argument("--seed", type=int, default=0, help="random templates and galleries")
    identities.add_argument("--write-docs", action="store_true",
                            help="also write the tables into README.md and docs/identity-decisions.md")
    generic = sub.add_parser("pairs", parents=[common, pairwise], help="a CSV/TSV list path_a,path_b,same[,fold]")
    generic.add_argument("list", type=Path)
    generic.add_argument("--root", type=Path, help="folder relative image paths start from (default: the list's)")
    return parser


def load_pairs(args: argparse.Namespace) -> tuple[str, PairList]:
    if args.protocol == "lfw":
        return "lfw", lfw_pairs(args.lfw_dir / "pairs.txt", args.lfw_dir / "lfw-deepfunneled")
    return args.list.stem, read_pair_list(args.list, args.root)


def _scoring(args: argparse.Namespace, pipeline: FacePipeline) -> Scoring:
    """How the service scores this model (its cohort, if it ships one), or the plain cosine with --plain."""
    from service.vision.cohort import Scoring

    return Scoring() if args.plain else pipeline.embedder.scoring


def _cohort_entry(pipeline: FacePipeline, scoring: Scoring) -> dict[str, object]:
    """What a report records of its scoring: `facever calibrate` writes a report into a card only when the two
    score alike (the same cohort file, or neither has one)."""
    spec = pipeline.embedder.card.cohort
    if scoring.cohort is None or spec is None:
        return {"cohort": None}
    return {"cohort": {"sha256": spec.sha256, "faces": spec.faces, "top_k": spec.top_k}}


def _stem(args: argparse.Namespace, dataset: str, model: str) -> Path:
    return args.out / f"{dataset}-{'plain-' if args.plain else ''}{model}"


def run_identities(args: argparse.Namespace) -> str:
    """The identity-decision protocol on every LFW image; writes <out>/identities-<model>.json and -far.png."""
    from service.vision.pipeline import FacePipeline
    from training.doc_sections import replace_section
    from training.evaluation.features import embed_images
    from training.evaluation.identities import people_of, read_people_sets
    from training.evaluation.identity_report import (
        defaults_table,
        identity_report,
        named_far_table,
        plot_observed_far,
        scoring_table,
        summary,
    )

    settings = Settings(**{k: v for k, v in (("embedder", args.embedder), ("models_dir", args.models_dir)) if v})
    pipeline = FacePipeline.from_settings(settings)
    paths = sorted((args.lfw_dir / "lfw-deepfunneled").glob("*/*.jpg"))
    features = embed_images(paths, pipeline, args.workers, args.cache_dir if str(args.cache_dir) else None)
    names = [Path(path).parent.name for path in features.paths]
    people = people_of(names, features.vectors, read_people_sets(args.lfw_dir / "people.txt"))
    scoring = _scoring(args, pipeline)
    people = people.with_scoring(scoring)
    report = identity_report(people, "lfw", settings.embedder, pipeline.embedder.card.onnx_sha256,
                             args.default_far, args.seed, [Path(path).name for path in features.paths])
    stem = _stem(args, "identities", settings.embedder)
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(report.to_dict() | _cohort_entry(pipeline, scoring), indent=2) + "\n")
    plot_observed_far(report, stem.with_name(stem.name + "-far.png"))
    if args.write_docs:
        command = "facever evaluate " + shlex.join(args.argv)
        docs = REPO_ROOT / "docs" / "identity-decisions.md"
        for path, name, table in ((REPO_ROOT / "README.md", "identity-defaults", defaults_table(report)),
                                  (docs, "identity-decisions", named_far_table(report)),
                                  (docs, "identity-scoring", scoring_table(report))):
            replace_section(path, name, f"`{command}` ({report.n_images:,} LFW images, {report.n_people:,} "
                            f"people; model {report.model}):\n\n{table}", "# Identity decisions\n")
    return summary(report)


def run(args: argparse.Namespace) -> PairReport:
    """Evaluate the pair list the arguments name; writes <out>/<dataset>-<model>.json and -roc.png."""
    # imported here, not above: `--help` needs neither the model runtime nor scikit-learn or matplotlib
    from service.vision.pipeline import FacePipeline
    from training.evaluation.features import embed_images
    from training.evaluation.protocol import pair_report, present_pairs
    from training.evaluation.roc_plot import plot_roc

    dataset, listed = load_pairs(args)
    if args.pairs:
        listed = listed.first_per_fold(args.pairs, args.folds)
    pairs, missing = present_pairs(listed)
    overrides = {key: value for key, value in (("embedder", args.embedder), ("models_dir", args.models_dir)) if value}
    settings = Settings(**overrides)
    pipeline = FacePipeline.from_settings(settings)
    cache_dir = args.cache_dir if str(args.cache_dir) else None
    features = embed_images(pairs.unique_paths(), pipeline, args.workers, cache_dir)
    scoring = _scoring(args, pipeline)
    features = features.with_scoring(scoring)
    sha256 = pipeline.embedder.card.onnx_sha256
    report = pair_report(dataset, settings.embedder, sha256, pairs, features, missing, len(listed) - len(pairs))
    stem = _stem(args, dataset, settings.embedder)
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(report.to_dict() | _cohort_entry(pipeline, scoring), indent=2) + "\n")
    plot_roc({settings.embedder: report.result}, stem.with_name(stem.name + "-roc.png"), title=f"{dataset} ROC")
    return report


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments (`--help` exits here), evaluate, print the summary."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    pair_options = sorted({arg.split("=")[0] for arg in unknown} & {"--pairs", "--folds"})
    if pair_options:
        parser.error(f"{' and '.join(pair_options)} choose LFW pairs: they apply to `lfw` and `pairs`, not "
                     f"`{args.protocol}`, which uses every image")
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(args, "write_docs", False) and args.plain:
        parser.error("--write-docs writes what the service does, which scores as the model's card says: drop --plain")
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.protocol == "identities":
        print(run_identities(args))
        return 0
    from training.evaluation.protocol import summary

    print(summary(run(args)))
    return 0
