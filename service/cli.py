"""The `facever` command line: pipeline commands now; serve, gallery and training commands join later."""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer

from service.api.schemas import FaceOut
from service.config import Settings
from service.errors import ErrorCode, FaceverError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from service.gallery.gallery import Gallery
    from service.vision.pipeline import FacePipeline

app = typer.Typer(help="facever: face verification and identification.", no_args_is_help=True)

ImageArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="image file")]
EmbedderOpt = Annotated[str | None, typer.Option(help="model folder under models/ (FACEVER_EMBEDDER)")]
PolicyOpt = Annotated[str | None, typer.Option(help="largest | centre | all (FACEVER_FACE_POLICY)")]


def _settings(embedder: str | None = None, policy: str | None = None) -> Settings:
    overrides = {"embedder": embedder, "face_policy": policy}
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def _fail(error: FaceverError) -> None:
    typer.echo(json.dumps({"error": {"code": error.code.value, "message": error.message}}), err=True)
    raise typer.Exit(code=2)


@app.command()
def detect(image: ImageArg, policy: PolicyOpt = "all") -> None:
    """Print the faces found in IMAGE (box, score, landmarks) as JSON."""
    from service.vision.pipeline import FacePipeline

    try:
        pipeline = FacePipeline.from_settings(_settings(policy=policy), with_embedder=False)
        aligned = pipeline.align(pipeline.decode(image.read_bytes()))
    except FaceverError as error:
        _fail(error)
    typer.echo(json.dumps({"faces": [FaceOut.of(item.face).model_dump() for item in aligned]}, indent=2))


@app.command()
def embed(
    image: ImageArg,
    embedder: EmbedderOpt = None,
    policy: PolicyOpt = None,
    out: Annotated[Path | None, typer.Option(help="write the vector(s) to this .npy file")] = None,
) -> None:
    """Embed the face(s) of IMAGE; print JSON (or write a .npy with --out)."""
    from service.vision.pipeline import FacePipeline

    try:
        pipeline = FacePipeline.from_settings(_settings(embedder, policy))
        faces = pipeline.embed(pipeline.decode(image.read_bytes()))
    except FaceverError as error:
        _fail(error)
    if out is not None:
        np.save(out, np.stack([face.embedding for face in faces]) if faces else np.zeros((0, 0), np.float32))
    payload = [{**FaceOut.of(face.face).model_dump(), "embedding": None if out else face.embedding.round(6).tolist()} for face in faces]
    typer.echo(json.dumps({"model": pipeline.embedder.card.name, "faces": payload}))


@app.command()
def compare(image_a: ImageArg, image_b: ImageArg, embedder: EmbedderOpt = None, policy: PolicyOpt = None) -> None:
    """Print the cosine similarity of the chosen face in IMAGE_A and in IMAGE_B."""
    from service.vision.pipeline import FacePipeline

    try:
        pipeline = FacePipeline.from_settings(_settings(embedder, policy))
        face_a, face_b = (pipeline.embed_one(path.read_bytes()) for path in (image_a, image_b))
    except FaceverError as error:
        _fail(error)
    similarity = float(np.dot(face_a.embedding, face_b.embedding))
    threshold = pipeline.embedder.card.thresholds.best_accuracy
    result = {"similarity": round(similarity, 6), "model": pipeline.embedder.card.name, "threshold": threshold}
    if threshold is not None:
        result["match"] = similarity >= threshold
    typer.echo(json.dumps(result))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Start the REST API (settings from FACEVER_* variables)."""
    import uvicorn

    uvicorn.run("service.app:create_app", factory=True, host=host, port=port, workers=workers)


# --- gallery, keys and database commands -------------------------------------------------------

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (stored hashed; a key is shown once, when created).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
_ENROL_BATCH = 16  # images per gallery write: bounds memory and keeps progress moving


@contextmanager
def _sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions on the configured database, migrated (embedded) or checked to be at head."""
    from service.db.engine import make_engine, session_factory
    from service.db.migrate import ensure_migrated

    try:
        ensure_migrated(settings)
    except FaceverError as error:  # e.g. a Postgres database not upgraded yet: say so, no traceback
        _fail(error)
    engine = make_engine(settings.database_url)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


@contextmanager
def _gallery(settings: Settings) -> Iterator[tuple[FacePipeline, Gallery]]:
    """The pipeline and a gallery index loaded from the database, as the service builds them."""
    from service.gallery.gallery import Gallery
    from service.vision.pipeline import FacePipeline

    with _sessions(settings) as sessions:
        pipeline = FacePipeline.from_settings(settings)
        gallery = Gallery.from_settings(sessions, settings, pipeline.embedder.dim)
        gallery.rebuild()
        yield pipeline, gallery


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Migrate FACEVER_DATABASE_URL to REVISION (default: the latest)."""
    from service.db.migrate import upgrade

    upgrade(Settings().database_url, revision)
    typer.echo(f"database at {revision}")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin | client")] = "client",
    name: Annotated[str, typer.Option(help="who or what uses the key")] = "cli",
) -> None:
    """Create a key and print it (the only time it is shown)."""
    from service import auth
    from service.db.engine import write_session

    try:
        with _sessions(Settings()) as sessions, write_session(sessions) as session:
            info, key = auth.create_key(session, name, role)
    except FaceverError as error:
        _fail(error)
    typer.echo(json.dumps({"id": info.id, "name": info.name, "role": info.role, "key": key}))


@keys_app.command("list")
def keys_list() -> None:
    """List keys (id, name, role, prefix, revoked), one JSON object per line."""
    from service import auth

    with _sessions(Settings()) as sessions, sessions() as session:
        for info in auth.list_keys(session):
            typer.echo(json.dumps({**dataclasses.asdict(info), "created_at": info.created_at.isoformat()}))


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="the key's id (see `keys list`)")]) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    from service import auth
    from service.db.engine import write_session

    try:
        with _sessions(Settings()) as sessions, write_session(sessions) as session:
            auth.revoke_key(session, key_id)
    except FaceverError as error:
        _fail(error)
    typer.echo(f"revoked key {key_id}")


@app.command()
def enrol(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="one sub-folder per person")],
    pick_largest: Annotated[bool, typer.Option(help="enrol the largest face of images with several")] = False,
) -> None:
    """Enrol DIRECTORY/<person>/*.jpg: one identity per sub-folder (its name is the external_id)."""
    from tqdm import tqdm

    from service.api.enrolment import enrol_images
    from service.db.engine import write_session
    from service.gallery import repository

    people = {folder: sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
              for folder in sorted(directory.iterdir()) if folder.is_dir()}
    settings = Settings()
    counts, failures = Counter[str](), []
    with _gallery(settings) as (pipeline, gallery), tqdm(total=sum(map(len, people.values())), unit="img") as bar:
        for folder, paths in people.items():
            with write_session(gallery.session_factory) as session:
                found = repository.list_identities(session, limit=1, external_id=folder.name).items
                identity = found[0] if found else repository.create_identity(
                    session, folder.name.replace("_", " "), external_id=folder.name)
            for start in range(0, len(paths), _ENROL_BATCH):
                batch = paths[start:start + _ENROL_BATCH]
                results = enrol_images(pipeline, gallery, settings, identity.id, [p.read_bytes() for p in batch],
                                       pick_largest)
                for item in results:  # a duplicate was enrolled by an earlier run: not a failure
                    counts[item.status if item.reason != "duplicate_image" else "already_enrolled"] += 1
                failures += [(batch[item.index], item.reason) for item in results if item.status == "rejected"
                             and item.reason != "duplicate_image"]
                bar.update(len(batch))
    for path, reason in failures:
        typer.echo(f"not enrolled: {path}: {reason}", err=True)
    typer.echo(json.dumps({"identities": len(people), "enrolled": counts["enrolled"],
                           "already_enrolled": counts["already_enrolled"], "rejected": len(failures)}))
    if failures and not (counts["enrolled"] or counts["already_enrolled"]):
        raise typer.Exit(code=1)


@app.command()
def verify(
    image_a: ImageArg,
    image_b: Annotated[Path | None, typer.Argument(exists=True, dir_okay=False, help="second image")] = None,
    identity: Annotated[int | None, typer.Option(help="verify IMAGE_A against this identity id")] = None,
    threshold: Annotated[float | None, typer.Option(help="overrides the model card's threshold")] = None,
) -> None:
    """Same person? IMAGE_A against IMAGE_B, or against an enrolled --identity."""
    if (image_b is None) == (identity is None):
        raise typer.BadParameter("give IMAGE_B or --identity (one of them)")
    settings = Settings()
    try:
        with _gallery(settings) as (pipeline, gallery):
            face = pipeline.embed_one(image_a.read_bytes())
            if image_b is not None:
                similarity = float(np.dot(face.embedding, pipeline.embed_one(image_b.read_bytes()).embedding))
            else:
                best = gallery.match_identity(identity, face.embedding)
                if best is None:
                    raise FaceverError(ErrorCode.identity_without_faces, f"identity {identity} has no faces")
                similarity = best.similarity
    except FaceverError as error:
        _fail(error)
    card = pipeline.embedder.card
    threshold = threshold if threshold is not None else card.thresholds.best_accuracy
    match = None if threshold is None else similarity >= threshold
    typer.echo(json.dumps({"similarity": round(similarity, 6), "threshold": threshold, "match": match,
                           "model": card.name}))


@app.command()
def identify(
    image: ImageArg,
    top_k: Annotated[int, typer.Option(min=1, max=100, help="candidates to show")] = 5,
) -> None:
    """Who is the (largest) face of IMAGE among the enrolled identities? Candidates as JSON."""
    try:
        with _gallery(Settings()) as (pipeline, gallery):
            candidates = gallery.search(pipeline.embed_one(image.read_bytes()).embedding, top_k)
    except FaceverError as error:
        _fail(error)
    typer.echo(json.dumps({"candidates": [
        {"identity_id": c.identity_id, "name": c.name, "similarity": round(c.similarity, 6), "face_id": c.face_id}
        for c in candidates]}))


@app.command()
def reembed(batch: Annotated[int, typer.Option(min=1, help="faces per embedding run")] = 64) -> None:
    """Embed the stored crops of other models' faces with the active model (FACEVER_EMBEDDER); re-runnable."""
    from PIL import Image
    from tqdm import tqdm

    from service.gallery import repository
    from service.gallery.repository import NewFace

    added, skipped, after = 0, 0, 0
    with _gallery(Settings()) as (pipeline, gallery), tqdm(unit="face") as bar:
        while True:
            with gallery.session_factory() as session:
                rows = repository.faces_to_reembed(session, gallery.embedder, after, batch)
            if not rows:
                break
            after = rows[-1].id
            crops = np.stack([np.asarray(Image.open(io.BytesIO(row.crop_jpeg)).convert("RGB")) for row in rows])
            by_identity: dict[int, list[NewFace]] = {}
            for row, vector in zip(rows, pipeline.embedder.embed(crops)):
                by_identity.setdefault(row.identity_id, []).append(
                    NewFace(vector, row.det_score, row.box, row.landmarks, row.crop_jpeg, row.image_sha256))
            for identity_id, faces in by_identity.items():
                try:
                    added += sum(not item.duplicate for item in gallery.enrol(identity_id, faces))
                except FaceverError:  # the identity was deleted meanwhile
                    skipped += len(faces)
            bar.update(len(rows))
    typer.echo(json.dumps({"model": gallery.embedder, "reembedded": added, "skipped": skipped}))


# --- training commands: torch and friends come with the [train] extra --------------------------

TRAIN_EXTRA = "pip install -e '.[train]'"
PassThrough = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _training(module: str) -> ModuleType:
    """Import a training module lazily; a missing third-party package exits with how to install the extra."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] in {"training", "service"}:
            raise  # our own code is broken: show the traceback
        typer.echo(f"facever: {module} needs the '{error.name}' package, part of the training extra: {TRAIN_EXTRA}",
                   err=True)
        raise typer.Exit(code=3) from error


@app.command()
def train(
    config: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="recipe YAML, e.g. training/configs/X.yaml")],
    resume: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="continue from this checkpoint")] = None,
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
    """LFW / pair-list evaluation of an installed model: lfw|pairs [--embedder NAME] (--help for more)."""
    raise typer.Exit(_training("training.evaluation.cli").main(ctx.args))


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="a training checkpoint (.pt)")],
    name: Annotated[str, typer.Option(help="model name, and the folder under models/")],
    out: Annotated[Path | None, typer.Option(help="model folder (default: FACEVER_MODELS_DIR/NAME)")] = None,
    version: Annotated[str, typer.Option(help="model version for the card")] = "0.1.0",
    report: Annotated[Path | None, typer.Option(exists=True, dir_okay=False,
                                                help="evaluation JSON whose metrics and thresholds go in the card")] = None,
) -> None:
    """Export a checkpoint's embedder to ONNX (parity-checked) with a model card carrying its recipe."""
    target = out or Settings().models_dir / name
    card = _training("training.release").export_checkpoint(checkpoint, target, name=name, version=version,
                                                           report=report)
    typer.echo(json.dumps({"model_dir": str(target), "name": card.name, "onnx_sha256": card.onnx_sha256,
                           "lfw_mean": card.metrics.lfw_mean, "sep_mean": card.metrics.sep_mean}))
    typer.echo(f"select it with FACEVER_EMBEDDER={name}")


@app.command()
def retrain(
    config: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="recipe YAML")],
    src: Annotated[list[Path] | None, typer.Argument(help="per-identity image folder(s); default CelebA")] = None,
) -> None:
    """prepare -> train -> export -> evaluate (LFW) -> install into models/, from one recipe (scripts/retrain.sh)."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "retrain.sh"
    raise typer.Exit(subprocess.call(["bash", str(script), str(config), *map(str, src or [])]))
