"""Detect and align per-identity image folders with service.vision and pack the crops into shards."""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import takewhile
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from service.config import Settings
from service.errors import FaceverError
from service.vision.detector import CASCADE_VERSION, NET_NAMES
from service.vision.file_hash import file_sha256
from service.vision.image_io import read_image
from service.vision.pipeline import FacePipeline
from training.data.shards import (
    CROP_BYTES,
    MANIFEST,
    Failure,
    Manifest,
    load_shard,
    read_manifest,
    shard_capacity,
    shard_ok,
    write_manifest,
    write_shard,
)
from training.data.sources import Item, list_inputs
from training.distill.teacher import LOOSE_SCALE, LOOSE_SIZE, loose_crop

POLICY = "centre"  # DESIGN.md "Which face": training keeps the face nearest the image centre
CHUNK = 32  # images per task sent to a worker: large enough to amortise IPC, small enough to balance

LOOSE_BYTES = LOOSE_SIZE * LOOSE_SIZE * 3


@dataclass(frozen=True)
class Result:
    """One image's outcome: its aligned crop with the teacher's inputs, or why there is none."""

    crop: np.ndarray | None
    loose: np.ndarray | None = None
    box: np.ndarray | None = None
    kind: str = ""
    detail: str = ""


def _failed(kind: str, detail: str) -> Result:
    return Result(None, kind=kind, detail=detail)


@dataclass
class PrepareReport:
    """What one prepare run produced; counts cover the whole output, `skipped` the work a resume reused."""

    images: int
    aligned: int
    no_face: int
    unreadable: int
    identities: int
    shards: int
    seconds: float
    skipped: int = 0


def prepare(
    src_dir: Path | Sequence[Path],
    out_dir: Path,
    *,
    workers: int = 2,
    shard_mb: float = 48,
    settings: Settings | None = None,
    min_images_per_identity: int = 1,
    loose: bool = True,
) -> PrepareReport:
    """Detect+align every image of a per-identity folder (src_dir/<identity>/*.jpg|png|...) with service.vision,
    in `workers` processes with a tqdm bar; write packed shards + manifest to out_dir. Deterministic (sorted
    order; same input -> byte-identical shards) and resumable (a re-run skips finished shards / finished work).

    Several source folders are merged, identities prefixed by the source's distinct path tail. Identities with
    fewer than `min_images_per_identity` files are left out before detection, so labels are fixed up front.
    With `loose` (default) each shard also keeps the teacher's inputs (loose crop + MTCNN box, see
    training.distill.teacher), which makes shards ~3x larger.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = [Path(src_dir)] if isinstance(src_dir, (str, Path)) else [Path(s) for s in src_dir]
    # one ORT thread per worker process: the processes are the parallelism
    settings = (settings or Settings()).model_copy(update={"threads": 1})
    inputs = list_inputs(sources, min_images_per_identity)
    capacity = shard_capacity(shard_mb, LOOSE_BYTES if loose else CROP_BYTES)
    manifest = _resume(out_dir, Manifest(
        identities=inputs.identities,
        settings=_settings_record(settings, shard_mb, capacity, min_images_per_identity, loose),
        inputs={"count": len(inputs.items), "sha256": inputs.fingerprint()},
    ))
    skipped = len(inputs.items) if manifest.complete else manifest.cursor
    if not manifest.complete:
        _pack(inputs.items[skipped:], out_dir, manifest, capacity, settings, workers, total=len(inputs.items))
    labels = [load_shard(out_dir, shard)[1] for shard in manifest.shards]
    kinds = [failure.kind for failure in manifest.failures]
    return PrepareReport(
        images=len(inputs.items),
        aligned=manifest.images,
        no_face=kinds.count("no_face"),
        unreadable=kinds.count("unreadable"),
        identities=len(np.unique(np.concatenate(labels))) if labels else 0,
        shards=len(manifest.shards),
        seconds=time.perf_counter() - start,
        skipped=skipped,
    )


def _settings_record(settings: Settings, shard_mb: float, capacity: int, min_images: int,
                     loose: bool) -> dict[str, Any]:
    """Everything that decides the output bytes; a resume must match it. JSON round-trip so tuples compare."""
    record = {
        "policy": POLICY,
        "cascade_version": CASCADE_VERSION,
        "min_face_size": settings.min_face_size,
        "detector_thresholds": settings.detector_thresholds,
        "detector_max_side": settings.detector_max_side,
        "max_image_bytes": settings.max_image_bytes,
        "max_image_pixels": settings.max_image_pixels,
        "detector_sha256": {name: file_sha256(settings.detector_dir / f"{name}.onnx") for name in NET_NAMES},
        "shard_mb": shard_mb,
        "shard_capacity": capacity,
        "min_images_per_identity": min_images,
        "loose": {"size": LOOSE_SIZE, "scale": LOOSE_SCALE} if loose else None,
    }
    return json.loads(json.dumps(record))


def _resume(out_dir: Path, fresh: Manifest) -> Manifest:
    """The state to continue from: `fresh` for a new folder, else the old manifest cut to its intact shards."""
    if not (out_dir / MANIFEST).exists():
        return fresh
    old = read_manifest(out_dir)
    if (old.identities, old.settings, old.inputs, old.alignment) != (
        fresh.identities, fresh.settings, fresh.inputs, fresh.alignment
    ):
        raise ValueError(f"{out_dir} holds a preparation of other inputs or settings; use an empty folder")
    intact = list(takewhile(lambda shard: shard_ok(out_dir, shard), old.shards))
    if old.complete and len(intact) == len(old.shards):
        return old
    fresh.shards = intact
    fresh.failures = [failure for failure in old.failures if failure.item < fresh.cursor]
    return fresh


def _pack(todo: list[Item], out_dir: Path, manifest: Manifest, capacity: int, settings: Settings,
          workers: int, total: int) -> None:
    """Align `todo` in order, flushing a shard (and the manifest, the resume point) each time one fills."""
    keep_loose = manifest.settings["loose"] is not None
    results: list[Result] = []
    labels: list[int] = []
    failures: list[Failure] = []

    def flush(next_item: int) -> None:
        teacher = (np.stack([r.loose for r in results]), np.stack([r.box for r in results])) if keep_loose else ()
        shard = write_shard(out_dir, len(manifest.shards), np.stack([r.crop for r in results]),
                            np.array(labels, np.int32), next_item, *teacher)
        manifest.shards.append(shard)
        manifest.failures.extend(failures)
        results.clear()
        labels.clear()
        failures.clear()
        write_manifest(out_dir, manifest)

    first = manifest.cursor
    with tqdm(total=total, initial=first, unit="img", desc="prepare", smoothing=0.05) as bar:
        for index, item, result in zip(
            range(first, total), todo, _align_all([str(item.path) for item in todo], settings, workers), strict=True
        ):
            bar.update()
            if result.crop is None:
                failures.append(Failure(index, item.name, result.kind, result.detail))
                continue
            results.append(result)
            labels.append(item.label)
            if len(results) == capacity:
                flush(index + 1)
    if results:
        flush(total)
    manifest.failures.extend(failures)  # failures after the last crop belong to no shard
    manifest.complete = True
    write_manifest(out_dir, manifest)


def _align_all(paths: list[str], settings: Settings, workers: int) -> Iterator[Result]:
    """One result per path, in input order whatever the scheduling (imap keeps order)."""
    chunks = [paths[i:i + CHUNK] for i in range(0, len(paths), CHUNK)]
    if workers <= 1:
        _init_worker(settings)
        for chunk in chunks:
            yield from _align_chunk(chunk)
        return
    # spawn, not fork: the parent may hold torch/ORT thread pools that a forked child would inherit broken
    with mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(settings,)) as pool:
        for results in pool.imap(_align_chunk, chunks):
            yield from results


_PIPELINE: FacePipeline | None = None  # per process: ONNX sessions cannot be pickled, so each worker builds one


def _init_worker(settings: Settings) -> None:
    global _PIPELINE
    _PIPELINE = FacePipeline.from_settings(settings, with_embedder=False)


def _align_chunk(paths: list[str]) -> list[Result]:
    assert _PIPELINE is not None, "worker not initialised"
    return [_align_one(_PIPELINE, path) for path in paths]


def _align_one(pipeline: FacePipeline, path: str) -> Result:
    try:
        rgb = read_image(path, pipeline.limits)
    except FaceverError as e:
        return _failed("unreadable", f"{e.code.value}: {e.message}")
    try:
        faces = pipeline.align(rgb, POLICY)
    except ValueError as e:  # degenerate landmarks: no usable face
        return _failed("no_face", str(e))
    if not faces:
        return _failed("no_face", "no face found")
    loose, box = loose_crop(rgb, faces[0].face.box)
    return Result(faces[0].crop, loose, box)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m training.data.prepare SRC [SRC ...] OUT --workers 2`: prepare and print the report."""
    parser = argparse.ArgumentParser(prog="python -m training.data.prepare", description=main.__doc__)
    parser.add_argument("src", nargs="+", type=Path, help="per-identity image folder(s): SRC/<identity>/*.jpg")
    parser.add_argument("out", type=Path, help="output folder for shards + manifest.json (resumed if present)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--shard-mb", type=float, default=48, help="MiB per shard, < 64 (default 48)")
    parser.add_argument("--min-images", type=int, default=1, help="skip identities with fewer images (default 1)")
    parser.add_argument("--no-loose", dest="loose", action="store_false",
                        help="do not keep the teacher's loose crops (smaller shards; no distillation)")
    args = parser.parse_args(argv)
    report = prepare(args.src, args.out, workers=args.workers, shard_mb=args.shard_mb,
                     min_images_per_identity=args.min_images, loose=args.loose)
    print(json.dumps(asdict(report), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
