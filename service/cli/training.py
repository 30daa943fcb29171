"""Training commands; torch and friends come with the [train] extra and are imported lazily."""

from __future__ import annotations

import importlib
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

from service.cli.common import app, fail
from service.config import Settings
from service.errors import FaceverError

TRAIN_EXTRA = "pip install -e '.[train]'"
# evaluating an installed ONNX model needs no torch: only the metrics' and the ROC plot's packages
EVALUATE_PACKAGES = f"pip install scikit-learn matplotlib (or the whole training extra: {TRAIN_EXTRA})"
PassThrough = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


@contextmanager
def _missing_package_exits(what: str, install: str = f"part of the training extra: {TRAIN_EXTRA}") -> Iterator[None]:
    """A third-party package missing inside the block exits with code 3 and how to install it."""
    try:
        yield
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] in {"training", "service"}:
            raise  # our own code is broken: show the traceback
        typer.echo(f"facever: {what} needs the '{error.name}' package: {install}", err=True)
        raise typer.Exit(code=3) from error


def _training(module: str) -> ModuleType:
    """Import a training module lazily; a missing third-party package exits with how to install the extra."""
    with _missing_package_exits(module):
        return importlib.import_module(module)


@app.command()
def train(
    config: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="recipe YAML, e.g. training/configs/X.yaml")
    ],
    resume: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="continue from this checkpoint")
    ] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override, e.g. --set loss.lambda_=4")] = None,
) -> None:
    """Train an embedder from a recipe; continues from the run's newest checkpoint if it has one."""
    argv = ["--config", str(config), *(["--resume", str(resume)] if resume else [])]
    raise typer.Exit(_training("training.train").main([*argv, *(f"--set={item}" for item in set_ or [])]))


@app.command(context_settings=PassThrough, add_help_option=False)
def prepare(ctx: typer.Context) -> None:
    """Detect + align a per-identity image folder into packed shards: SRC... OUT [--workers N] (--help for more)."""
    raise typer.Exit(_training("training.data.prepare").main(ctx.args))


@app.command(context_settings=PassThrough, add_help_option=False)
def evaluate(ctx: typer.Context) -> None:
    """Evaluation of an installed model: lfw|pairs|identities [--embedder NAME] (--help for more)."""
    with _missing_package_exits("facever evaluate", EVALUATE_PACKAGES):
        code = _training("training.evaluation.cli").main(ctx.args)
    raise typer.Exit(code)


@app.command(context_settings=PassThrough, add_help_option=False)
def distill(ctx: typer.Context) -> None:
    """Distillation teacher (dlib, the distill extra): teach DATA_DIR | lfw | overlap DATA_DIR | duplicates."""
    raise typer.Exit(_training("training.distill.__main__").main(ctx.args))


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="a training checkpoint (.pt)")],
    name: Annotated[str, typer.Option(help="model name, and the folder under models/")],
    out: Annotated[Path | None, typer.Option(help="model folder (default: FACEVER_MODELS_DIR/NAME)")] = None,
    version: Annotated[str, typer.Option(help="model version for the card")] = "0.1.0",
    weights: Annotated[
        str,
        typer.Option(help="fp32, fp16 (half the file, fp32 compute) or int8 (static QDQ, needs --calibration)"),
    ] = "fp32",
    calibration: Annotated[
        Path | None,
        typer.Option(exists=True, file_okay=False,
                     help="packed data folder (facever prepare) whose crops calibrate int8 and check "
                          "fp16/int8 against fp32 (unused for fp32)"),
    ] = None,
) -> None:
    """Export a checkpoint's embedder to ONNX (parity-checked) with a model card carrying its recipe; evaluate it,
    then `facever calibrate` writes its accuracy and thresholds into the card."""
    if weights not in ("fp32", "fp16", "int8"):
        raise typer.BadParameter(f"must be fp32, fp16 or int8, not {weights!r}", param_hint="--weights")
    if weights == "int8" and calibration is None:
        raise typer.BadParameter("int8 needs --calibration DATA_DIR (a folder made by facever prepare)",
                                 param_hint="--calibration")
    target = out or Settings().models_dir / name
    release = _training("training.release")
    try:
        card = release.export_checkpoint(
            checkpoint, target, name=name, version=version, weights=weights,
            calibration=calibration if weights != "fp32" else None,
        )
    except _training("training.export.compact").CompactParityError as error:
        typer.echo(f"facever export: not installed: {error}", err=True)  # the fp32 form still ships
        raise typer.Exit(code=1) from error
    typer.echo(
        json.dumps(
            {
                "model_dir": str(target),
                "name": card.name,
                "onnx_sha256": card.onnx_sha256,
                "weights": card.weights,
                "min_cosine_to_fp32": card.compaction.min_cosine if card.compaction else None,
                "lfw_mean": card.metrics.lfw_mean,
                "sep_mean": card.metrics.sep_mean,
            }
        )
    )
    typer.echo(f"select it with FACEVER_EMBEDDER={name}")


@app.command()
def cohort(
    model_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="model folder (model.onnx + model.json)")],
    data_dirs: Annotated[list[Path], typer.Argument(exists=True, file_okay=False,
                                                    help="prepared training folder(s) (facever prepare)")],
    faces: Annotated[int, typer.Option(min=10, help="cohort faces, one per person")] = 2000,
    seed: Annotated[int, typer.Option(help="which people and faces")] = 0,
    version: Annotated[str | None, typer.Option(help="the card's new model version (default: unchanged)")] = None,
    faces_of: Annotated[Path | None, typer.Option(
        exists=True, file_okay=False,
        help="another form of the same network (e.g. the fp16 model an int8 one was made from): embed the faces of "
             "its cohort, found in DATA_DIRS, instead of choosing faces by --seed")] = None,
) -> None:
    """Ship a score-normalisation cohort with the model (cohort.npy, named in its card): its scores are then
    corrected for faces that resemble many others. The card's thresholds and LFW metrics are dropped: evaluate
    the model again (lfw, identities) and `facever calibrate` it with both reports."""
    try:
        card = _training("training.export.cohort").ship_cohort(model_dir, data_dirs, faces, seed, version, faces_of)
    except FaceverError as error:
        fail(error)
    except FileNotFoundError as error:  # no manifest: not made by facever prepare
        typer.echo(f"facever cohort: {error.filename or error} is missing: give folders made by `facever prepare`",
                   err=True)
        raise typer.Exit(code=2) from error
    except ValueError as error:  # a folder without faces, or one prepared only in part
        typer.echo(f"facever cohort: {error}", err=True)
        raise typer.Exit(code=2) from error
    typer.echo(json.dumps({"model_dir": str(model_dir), "cohort": card.cohort.model_dump()}))
    typer.echo(f"now: facever evaluate lfw --embedder {card.name}, facever evaluate identities --embedder {card.name}, "
               f"and facever calibrate {model_dir} --report ... with each report", err=True)


@app.command()
def calibrate(
    model_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="model folder (model.onnx + model.json)")],
    report: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="facever evaluate's JSON for this folder's model")
    ],
) -> None:
    """Write an evaluation into the model's card (ONNX untouched): a pair report's accuracy, TAR and thresholds,
    or an identities report's FAR curves (`facever evaluate identities`)."""
    try:
        card = _training("training.export.card_metrics").calibrate_card(model_dir, json.loads(report.read_text()))
    except KeyError as error:
        typer.echo(f"facever calibrate: {report} is not a facever evaluate report (no {error})", err=True)
        raise typer.Exit(code=2) from error
    except ValueError as error:  # not JSON, or another model's report
        typer.echo(f"facever calibrate: {error}", err=True)
        raise typer.Exit(code=2) from error
    except FaceverError as error:  # no readable model card in model_dir
        fail(error)
    typer.echo(json.dumps({"model_dir": str(model_dir), "lfw_mean": card.metrics.lfw_mean,
                           "thresholds": card.thresholds.model_dump(by_alias=True),
                           "default_far": card.calibration.default_far if card.calibration else None}))


@app.command()
def retrain(
    config: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="recipe YAML")],
    src: Annotated[list[Path] | None, typer.Argument(help="per-identity image folder(s); default CelebA + CACD")] = None,
) -> None:
    """prepare -> train -> export -> cohort -> evaluate (LFW) -> calibrate -> install into models/, from one recipe
    (scripts/retrain.sh)."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "retrain.sh"
    raise typer.Exit(subprocess.call(["bash", str(script), str(config), *map(str, src or [])]))
