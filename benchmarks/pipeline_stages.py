"""Per-stage latency of the face pipeline (decode, detect, align, embed) on real LFW images.

Usage: python benchmarks/pipeline_stages.py [--images 200] [--embedder NAME] [--threads 0]
Writes benchmarks/results/pipeline_stages.json and its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

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


def measure(pipeline: FacePipeline, paths: list[Path]) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for path in tqdm(paths, desc="pipeline", unit="img"):
        data = path.read_bytes()
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
    args = parser.parse_args()

    overrides = {"threads": args.threads} | ({"embedder": args.embedder} if args.embedder else {})
    settings = Settings(**overrides)
    pipeline = FacePipeline.from_settings(settings)
    paths = lfw_sample(args.images)
    measure(pipeline, paths[:5])  # warm-up: first ORT runs allocate
    timings = measure(pipeline, paths)

    stats = {stage: percentiles(samples) for stage, samples in timings.items()}
    total = sum(stats[s]["mean_ms"] for s in STAGES)
    write_json("pipeline_stages", {"machine": machine(), "embedder": settings.embedder,
                                   "threads": args.threads, "images": len(paths), "stages": stats})
    rows = "\n".join(
        f"| {s} | {stats[s]['mean_ms']} | {stats[s]['p50_ms']} | {stats[s]['p95_ms']} |" for s in STAGES
    )
    write_section(
        "pipeline_stages",
        f"""## Pipeline stages (per image)

`python benchmarks/pipeline_stages.py --images {args.images} --threads {args.threads}` — {stats['embed']['n']}
LFW images (250x250, first image of the first people in sorted order), embedder `{settings.embedder}`
(orig + flip in one batch), ONNX Runtime threads: {args.threads or 'default'}, machine: {machine()['cores']} cores.

| stage | mean ms | p50 ms | p95 ms |
|---|---|---|---|
{rows}
| **total** | {total:.2f} | | |
""",
    )
    print(f"total mean {total:.1f} ms/img; see docs/benchmarks.md")


if __name__ == "__main__":
    main()
