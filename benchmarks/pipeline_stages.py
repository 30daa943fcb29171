"""Per-stage latency of the face pipeline (decode, detect, align, embed) on real LFW images, at several frame sizes.

Usage: python benchmarks/pipeline_stages.py [--images 200] [--embedder NAME] [--threads 0]
       [--frames 250x250 640x480 1920x1080] [--name pipeline_stages]
A frame other than LFW's own 250x250 is the LFW image scaled to the frame's height, centred, its edge pixels
replicated to the frame's width (no extra faces), re-encoded as JPEG (quality 95): a close-up photo at that size.
Writes benchmarks/results/<name>.json and its section of docs/benchmarks.md (a --name per variant, e.g. per
embedder, keeps each one's section).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import machine, percentiles, write_json, write_section
from service.config import REPO_ROOT, Settings
from service.vision.align import align_face
from service.vision.pipeline import FacePipeline

LFW_DIR = REPO_ROOT.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"
STAGES = ("decode", "detect", "align", "embed")


def lfw_sample(count: int) -> list[Path]:
    """The first image of the first `count` LFW people (sorted): deterministic."""
    people = sorted(p for p in LFW_DIR.iterdir() if p.is_dir())[:count]
    return [min(person.glob("*.jpg")) for person in people]


def framed(path: Path, width: int, height: int) -> bytes:
    """The LFW JPEG as a width x height frame (see the module doc); 250x250 is the file itself."""
    data = path.read_bytes()
    if (width, height) == (250, 250):
        return data
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    side = min(width, height)
    image = cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC)
    left, top = (width - side) // 2, (height - side) // 2
    frame = cv2.copyMakeBorder(image, top, height - side - top, left, width - side - left, cv2.BORDER_REPLICATE)
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def measure(pipeline: FacePipeline, images: list[bytes], desc: str) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for data in tqdm(images, desc=desc, unit="img"):
        t0 = time.perf_counter()
        rgb = pipeline.decode(data)
        t1 = time.perf_counter()
        faces = pipeline.detector.detect(rgb)
        t2 = time.perf_counter()
        if not faces:
            continue
        face = max(faces, key=lambda f: f.area)
        crop = align_face(rgb, face.landmarks)
        t3 = time.perf_counter()
        pipeline.embedder.embed(crop[None])
        t4 = time.perf_counter()
        for stage, seconds in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            timings[stage].append(seconds)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--embedder", default=None)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = default)")
    parser.add_argument("--frames", nargs="+", default=["250x250", "640x480", "1920x1080"], help="WIDTHxHEIGHT")
    parser.add_argument("--name", default="pipeline_stages", help="results/<name>.json and docs section <name>")
    args = parser.parse_args()

    overrides = {"threads": args.threads} | ({"embedder": args.embedder} if args.embedder else {})
    settings = Settings(**overrides)
    pipeline = FacePipeline.from_settings(settings)
    paths = lfw_sample(args.images)
    results = {}
    for frame in args.frames:
        width, height = map(int, frame.split("x"))
        images = [framed(path, width, height) for path in paths]
        measure(pipeline, images[:5], f"warm-up {frame}")  # first ORT runs at a new size allocate
        timings = measure(pipeline, images, frame)
        results[frame] = {stage: percentiles(samples) for stage, samples in timings.items()}
    write_json(args.name, {"machine": machine(), "embedder": settings.embedder, "threads": args.threads,
                                   "images": len(paths), "min_face_size": settings.min_face_size,
                                   "frames": results})
    rows = "\n".join(
        f"| {frame} | {s} | {stats[s]['mean_ms']} | {stats[s]['p50_ms']} | {stats[s]['p95_ms']} |"
        for frame, stats in results.items() for s in STAGES
    )
    totals = "; ".join(f"{frame}: {sum(st[s]['mean_ms'] for s in STAGES):.1f} ms" for frame, st in results.items())
    first = next(iter(results.values()))
    command = (f"python benchmarks/pipeline_stages.py --images {args.images} --threads {args.threads} "
               f"--frames {' '.join(args.frames)}")
    if args.embedder:
        command += f" --embedder {args.embedder}"
    if args.name != "pipeline_stages":
        command += f" --name {args.name}"
    write_section(
        args.name,
        f"""## Pipeline stages (per image){'' if args.name == 'pipeline_stages' else f': {args.name}'}

`{command}`
— {first['embed']['n']} LFW images (first image of the first people in sorted order; larger frames: the image
scaled to the frame height, edges replicated, JPEG q95), minimum face {settings.min_face_size} px, embedder
`{settings.embedder}` (orig + flip in one batch), ONNX Runtime threads: {args.threads or 'default'},
machine: {machine()['cores']} cores. Mean total per image — {totals}.

| frame | stage | mean ms | p50 ms | p95 ms |
|---|---|---|---|---|
{rows}
""",
    )
    print(f"{totals}; see docs/benchmarks.md")


if __name__ == "__main__":
    main()
