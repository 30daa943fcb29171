"""Detection time on 12 MP photos: shrinking to FACEVER_DETECTOR_MAX_SIDE alone (before) vs the bounded shrink (now).

Usage: python benchmarks/large_photo_detection.py [--photos 3] [--runs 5]
Each photo is 4032x3024: blurred noise with LFW photos pasted so their faces are about 40, 66, 150 and 400 px.
"Before" resizes the photo so its longer side is max_side and detects there (what detection did when the shrink
was unbounded); "now" is the detector as configured. The two run interleaved, photo by photo, so load on the
machine weighs on both alike. Prints per-image milliseconds (median and range over the runs) and faces found.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.config import REPO_ROOT, Settings
from service.vision.detector import DetectedFace, MTCNNDetector

LFW_DIR = REPO_ROOT.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"
WIDTH, HEIGHT = 4032, 3024
FACE_SIDES = (40, 66, 150, 400)  # px in the photo; LFW's faces are ~100 px of its 250x250 frame


def photo(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A 4032x3024 RGB photo with one LFW person per entry of FACE_SIDES, side by side, and their (x, y) centres."""
    rng = np.random.default_rng(seed)
    canvas = cv2.GaussianBlur(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8), (0, 0), 8)
    canvas = cv2.normalize(canvas, None, 60, 200, cv2.NORM_MINMAX)
    people = sorted(p for p in LFW_DIR.iterdir() if p.is_dir())
    centres, x = [], 100
    for side in FACE_SIDES:
        path = min(people[int(rng.integers(len(people)))].glob("*.jpg"))
        rgb = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        small = cv2.resize(rgb, None, fx=side / 100, fy=side / 100, interpolation=cv2.INTER_AREA)
        canvas[1000:1000 + small.shape[0], x:x + small.shape[1]] = small
        centres.append((x + small.shape[1] / 2, 1000 + small.shape[0] / 2))  # LFW photos are centred on the face
        x += small.shape[1] + 100
    return canvas, np.array(centres)


def planted_found(faces: list[DetectedFace], centres: np.ndarray) -> int:
    """How many pasted faces have a detection centred within a quarter of their side of their centre."""
    got = np.array([[(f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2] for f in faces]).reshape(-1, 2)
    near = np.linalg.norm(got[None] - centres[:, None], axis=2) < np.array(FACE_SIDES)[:, None] / 4
    return int(near.any(axis=1).sum())


def before(detector: MTCNNDetector, rgb: np.ndarray) -> list[DetectedFace]:
    """Faces found after an unbounded shrink to max_side (the copy is within max_side, so detect keeps it)."""
    s = detector.max_side / max(rgb.shape[:2])
    small = cv2.resize(rgb, (round(rgb.shape[1] * s), round(rgb.shape[0] * s)), interpolation=cv2.INTER_AREA)
    return [DetectedFace(f.box / s, f.score, f.landmarks / s) for f in detector.detect(small)]


def now(detector: MTCNNDetector, rgb: np.ndarray) -> list[DetectedFace]:
    return detector.detect(rgb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    settings = Settings()
    detector = MTCNNDetector.from_settings(settings)
    print(f"min_face_size {settings.min_face_size}, max_side {settings.detector_max_side}, "
          f"threads {settings.threads}; {WIDTH}x{HEIGHT}, faces of {FACE_SIDES} px")
    photos = [photo(seed) for seed in range(args.photos)]
    for name, fn in (("before", before), ("now", now)):  # warm-up: sessions, allocations
        fn(detector, photos[0][0])
    times: dict[str, list[float]] = {"before": [], "now": []}
    found: dict[str, list[int]] = {"before": [], "now": []}
    for run in range(args.runs):
        for rgb, centres in photos:
            for name, fn in (("before", before), ("now", now)):
                t0 = time.perf_counter()
                faces = fn(detector, rgb)
                times[name].append((time.perf_counter() - t0) * 1000)
                if run == 0:
                    found[name].append(planted_found(faces, centres))
    for name in times:
        ms = times[name]
        print(f"{name:>6}: {statistics.median(ms):7.0f} ms per image (min {min(ms):.0f}, max {max(ms):.0f}, "
              f"n={len(ms)}); pasted faces found per photo {found[name]} of {len(FACE_SIDES)}")


if __name__ == "__main__":
    main()
