"""Gallery commands: enrol a folder, identify, verify against the gallery, re-embed."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from service.api.schemas import MIN_FAR
from service.cli.common import ImageArg, app, fail, open_gallery
from service.config import Settings
from service.decisions import identify_decision, verify_decision
from service.errors import ErrorCode, FaceverError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
_ENROL_BATCH = 16  # images per gallery write: bounds memory and keeps progress moving
# how the command line forces an ambiguous choice (the API's messages name its own field)
_FORCE_HINT = "rerun with --pick-largest to enrol the largest face of each such image"


@app.command()
def enrol(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="one sub-folder per person")],
    pick_largest: Annotated[
        bool, typer.Option(help="enrol the largest face even when another is of similar size (else refused)")
    ] = False,
) -> None:
    """Enrol DIRECTORY/<person>/*.jpg: one identity per sub-folder (its name is the external_id)."""
    from tqdm import tqdm

    from service.api.enrolment import enrol_images
    from service.db.engine import write_session
    from service.gallery import repository

    people = {folder: _images(folder) for folder in sorted(directory.iterdir()) if folder.is_dir()}
    people = {folder: paths for folder, paths in people.items() if paths}  # an empty folder is nobody
    loose = _images(directory)
    if not people:
        found = f"{len(loose)} image file(s) directly in it" if loose else "no image in any sub-folder"
        typer.echo(f"facever enrol: nothing to enrol in {directory} ({found}); put each person's photos in a "
                   f"sub-folder named after them: {directory}/<person>/*.jpg", err=True)
        raise typer.Exit(code=2)
    if loose:
        typer.echo(f"skipped {len(loose)} image file(s) directly in {directory}: only {directory}/<person>/ "
                   "folders are enrolled", err=True)
    settings = Settings()
    counts, failures = Counter[str](), []
    with open_gallery(settings) as (pipeline, gallery), tqdm(total=sum(map(len, people.values())), unit="img") as bar:
        for folder, paths in people.items():
            with write_session(gallery.session_factory) as session:
                found = repository.list_identities(session, limit=1, external_id=folder.name).items
                identity = (
                    found[0]
                    if found
                    else repository.create_identity(session, folder.name.replace("_", " "), external_id=folder.name)
                )
            for start in range(0, len(paths), _ENROL_BATCH):
                batch = paths[start : start + _ENROL_BATCH]
                results = enrol_images(
                    pipeline, gallery, settings, identity.id, [p.read_bytes() for p in batch], pick_largest,
                    force_hint=_FORCE_HINT,
                )
                for item in results:  # a duplicate was enrolled by an earlier run: not a failure
                    counts[item.status if item.reason != "duplicate_image" else "already_enrolled"] += 1
                failures += [
                    (batch[item.index], item.reason, item.message)
                    for item in results
                    if item.status == "rejected" and item.reason != "duplicate_image"
                ]
                bar.update(len(batch))
    for path, reason, message in failures:
        typer.echo(f"not enrolled: {path}: {reason}: {message}", err=True)
    typer.echo(
        json.dumps(
            {
                "identities": len(people),
                "enrolled": counts["enrolled"],
                "already_enrolled": counts["already_enrolled"],
                "rejected": len(failures),
            }
        )
    )
    if failures and not (counts["enrolled"] or counts["already_enrolled"]):
        raise typer.Exit(code=1)


def _images(folder: Path) -> list[Path]:
    """The image files directly in `folder`, by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


FarOpt = Annotated[float | None, typer.Option(min=MIN_FAR, max=0.1,
                                              help="false-accept rate to keep (default: the model card's)")]
ThresholdOpt = Annotated[float | None, typer.Option(help="a cosine threshold to use instead of --far")]


def _one_strictness(far: float | None, threshold: float | None) -> None:
    if far is not None and threshold is not None:
        raise typer.BadParameter("give --far or --threshold, not both")


@app.command()
def verify(
    image_a: ImageArg,
    image_b: Annotated[Path | None, typer.Argument(exists=True, dir_okay=False, help="second image")] = None,
    identity: Annotated[int | None, typer.Option(help="verify IMAGE_A against this identity id")] = None,
    far: FarOpt = None,
    threshold: ThresholdOpt = None,
) -> None:
    """Same person? IMAGE_A against IMAGE_B, or against an enrolled --identity (its template of all its faces)."""
    if (image_b is None) == (identity is None):
        raise typer.BadParameter("give IMAGE_B or --identity (one of them)")
    _one_strictness(far, threshold)
    settings = Settings()
    try:
        with open_gallery(settings) as (pipeline, gallery):
            card = pipeline.embedder.card
            face = pipeline.embed_one(image_a.read_bytes())
            against: dict[str, object] = {}
            if image_b is not None:
                other = pipeline.embed_one(image_b.read_bytes()).embedding
                similarity, score = pipeline.embedder.scoring.pair(face.embedding, other)
                decision = verify_decision(card, far, threshold)
            else:
                best = gallery.match_identity(identity, face.embedding)
                if best is None:
                    raise FaceverError(ErrorCode.identity_without_faces, f"identity {identity} has no faces")
                similarity, score = best.similarity, best.score
                decision = verify_decision(card, far, threshold, best.faces)
                against = {"identity_id": best.identity_id, "name": best.name, "face_id": best.face_id,
                           "enrolled_faces": best.faces}
    except FaceverError as error:
        fail(error)
    typer.echo(json.dumps({"similarity": round(similarity, 6), "score": round(score, 6),
                           "threshold": decision.threshold, "far": decision.far, "match": decision.accepts(score),
                           "model": card.name, **against}))


@app.command()
def identify(
    image: ImageArg,
    top_k: Annotated[int, typer.Option(min=1, max=100, help="candidates to show")] = 5,
    far: FarOpt = None,
    threshold: ThresholdOpt = None,
) -> None:
    """Who is the (largest) face of IMAGE among the enrolled identities? Candidates and match as JSON."""
    _one_strictness(far, threshold)
    try:
        with open_gallery(Settings()) as (pipeline, gallery):
            card = pipeline.embedder.card
            identify_decision(card, far, threshold, 1, 1)  # a model without calibration refuses --far first
            candidates = gallery.search(pipeline.embed_one(image.read_bytes()).embedding, top_k)
            identities = gallery.identities
    except FaceverError as error:
        fail(error)
    decisions = [identify_decision(card, far, threshold, c.faces, identities) for c in candidates]
    shown = [{"identity_id": c.identity_id, "name": c.name, "similarity": round(c.similarity, 6),
              "score": round(c.score, 6), "face_id": c.face_id,
              "enrolled_faces": c.faces, "threshold": d.threshold} for c, d in zip(candidates, decisions)]
    first = decisions[0] if decisions else identify_decision(card, far, threshold, 1, identities)
    threshold = first.threshold
    matched = bool(shown) and bool(decisions[0].accepts(candidates[0].score))
    typer.echo(json.dumps({"candidates": shown, "threshold": threshold, "far": first.far, "identities": identities,
                           "match": shown[0] if matched else None}))
    if not matched:
        typer.echo(f"no match: {_best_candidate(shown, threshold, gallery.embedder)}", err=True)


def _best_candidate(shown: list[dict], threshold: float | None, embedder: str) -> str:
    """Why nobody matched, naming the best candidate when there is one."""
    if not shown:
        return f"nobody is enrolled with the model {embedder}"
    best = shown[0]
    below = "the model has no threshold" if threshold is None else f"below the threshold {threshold}"
    return (f"the best candidate, {best['name']} (identity {best['identity_id']}), has score "
            f"{best['score']}, {below}")


@app.command()
def reembed(batch: Annotated[int, typer.Option(min=1, help="faces per embedding run")] = 64) -> None:
    """Embed the stored crops of other models' faces with the active model (FACEVER_EMBEDDER); re-runnable."""
    from PIL import Image
    from tqdm import tqdm

    from service.gallery import repository
    from service.gallery.repository import NewFace

    added, skipped, after = 0, 0, 0
    with open_gallery(Settings()) as (pipeline, gallery), tqdm(unit="face") as bar:
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
                    NewFace(vector, row.det_score, row.box, row.landmarks, row.crop_jpeg, row.image_sha256)
                )
            for identity_id, faces in by_identity.items():
                try:
                    added += sum(not item.duplicate for item in gallery.enrol(identity_id, faces))
                except FaceverError:  # the identity was deleted meanwhile
                    skipped += len(faces)
            bar.update(len(rows))
    typer.echo(json.dumps({"model": gallery.embedder, "reembedded": added, "skipped": skipped}))
