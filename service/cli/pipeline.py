"""Pipeline commands: detect, embed, compare, and serve."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from service.api.schemas import FaceOut
from service.cli.common import EmbedderOpt, ImageArg, PolicyOpt, app, fail, settings_with
from service.config import Settings
from service.decisions import verify_decision
from service.errors import ErrorCode, FaceverError


@app.command()
def detect(image: ImageArg, policy: PolicyOpt = "all") -> None:
    """Print the faces found in IMAGE (box, score, landmarks) as JSON."""
    from service.vision.pipeline import FacePipeline

    try:
        pipeline = FacePipeline.from_settings(settings_with(policy=policy), with_embedder=False)
        aligned = pipeline.align(pipeline.decode(image.read_bytes()))
    except FaceverError as error:
        fail(error)
    typer.echo(json.dumps({"faces": [FaceOut.of(item.face).model_dump() for item in aligned]}, indent=2))


@app.command()
def embed(
    image: ImageArg,
    embedder: EmbedderOpt = None,
    policy: PolicyOpt = None,
    out: Annotated[
        Path | None, typer.Option(help="write a .npy: the face's vector (dim,), or (n, dim) with --policy all")
    ] = None,
) -> None:
    """Embed the face(s) of IMAGE; print JSON (or write a .npy with --out)."""
    from service.vision.pipeline import FacePipeline

    try:
        pipeline = FacePipeline.from_settings(settings_with(embedder, policy))
        faces = pipeline.embed(pipeline.decode(image.read_bytes()))
        if not faces and pipeline.policy != "all":
            raise FaceverError(ErrorCode.no_face, "no face was found in the image")
    except FaceverError as error:
        fail(error)
    if out is not None:
        # the chosen face is one vector (dim,); the "all" policy writes one row per face found (n, dim)
        vectors = [face.embedding for face in faces]
        dim = pipeline.embedder.dim
        np.save(out, vectors[0] if pipeline.policy != "all" else np.array(vectors, np.float32).reshape(-1, dim))
    payload = [
        {**FaceOut.of(face.face).model_dump(), "embedding": None if out else face.embedding.round(6).tolist()}
        for face in faces
    ]
    typer.echo(json.dumps({"model": pipeline.embedder.card.name, "faces": payload}))


@app.command()
def compare(image_a: ImageArg, image_b: ImageArg, embedder: EmbedderOpt = None, policy: PolicyOpt = None) -> None:
    """Print the cosine similarity and score of the chosen face in IMAGE_A and in IMAGE_B."""
    from service.vision.pipeline import FacePipeline

    try:
        pipeline = FacePipeline.from_settings(settings_with(embedder, policy))
        face_a, face_b = (pipeline.embed_one(path.read_bytes()) for path in (image_a, image_b))
    except FaceverError as error:
        fail(error)
    similarity, score = pipeline.embedder.scoring.pair(face_a.embedding, face_b.embedding)
    decision = verify_decision(pipeline.embedder.card, None, None)
    result = {"similarity": round(similarity, 6), "score": round(score, 6), "model": pipeline.embedder.card.name,
              "threshold": decision.threshold, "far": decision.far}
    if decision.threshold is not None:
        result["match"] = decision.accepts(score)
    typer.echo(json.dumps(result))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Start the REST API (settings from FACEVER_* variables)."""
    import uvicorn

    Settings.load()  # refused settings (e.g. an example API key) stop here, in one readable message

    uvicorn.run("service.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_config=_log_config())


def _log_config() -> dict:
    """uvicorn's logging, plus facever's own lines (each error response with its request id) at INFO."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["facever"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


# --- gallery, keys and database commands -------------------------------------------------------
