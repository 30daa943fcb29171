"""The `facever` command line: the app object and what its command groups share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from service.config import Settings
from service.errors import FaceverError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from service.gallery.gallery import Gallery
    from service.vision.pipeline import FacePipeline

app = typer.Typer(help="facever: face verification and identification.", no_args_is_help=True)

ImageArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="image file")]
EmbedderOpt = Annotated[str | None, typer.Option(help="model folder under models/ (FACEVER_EMBEDDER)")]
PolicyOpt = Annotated[str | None, typer.Option(help="largest | centre | all (FACEVER_FACE_POLICY)")]


def settings_with(embedder: str | None = None, policy: str | None = None) -> Settings:
    overrides = {"embedder": embedder, "face_policy": policy}
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def fail(error: FaceverError) -> None:
    typer.echo(json.dumps({"error": {"code": error.code.value, "message": error.message}}), err=True)
    raise typer.Exit(code=2)


@contextmanager
def open_sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions on the configured database, migrated (embedded) or checked to be at head."""
    from service.db.engine import make_engine, session_factory
    from service.db.migrate import ensure_migrated

    try:
        ensure_migrated(settings)
    except FaceverError as error:  # e.g. a Postgres database not upgraded yet: say so, no traceback
        fail(error)
    engine = make_engine(settings.database_url)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


@contextmanager
def open_gallery(settings: Settings) -> Iterator[tuple[FacePipeline, Gallery]]:
    """The pipeline and a gallery index loaded from the database, as the service builds them."""
    from service.gallery.gallery import Gallery
    from service.vision.pipeline import FacePipeline

    with open_sessions(settings) as sessions:
        pipeline = FacePipeline.from_settings(settings)
        gallery = Gallery.from_settings(sessions, settings, pipeline.embedder.dim, pipeline.embedder.scoring)
        gallery.rebuild()
        yield pipeline, gallery
