"""dlib's face_recognition side by side with facever on the same LFW pairs: 10-fold accuracy and per-image latency.

Install the peer (not a facever dependency; any venv that has facever's `train` extra works):

    pip install dlib-bin face-recognition-models     # prebuilt dlib wheel + ~100 MB of dlib models
    pip install --no-deps face-recognition           # its deps pin a source build of dlib: skip them

or `make bench-peer`, which does both and runs this script.

Usage: python benchmarks/peer_dlib.py [--pairs-per-fold 300] [--threads 1] [--no-ours]

For every image the chosen LFW pairs use (all 6000 pairs -> ~7.7k images; `--pairs-per-fold N` keeps the
first N same and N different pairs of each of the 10 folds -> 20·N pairs):
- dlib: `face_recognition.face_locations` (default HOG detector, 1 upsample) then `face_encodings`
  (default 5-point landmarks, 1 jitter) -> 128-D. Several faces: the one nearest the image centre (as our
  evaluation protocol does); none: the whole image is the face location (counted). Pairs are scored by
  NEGATIVE euclidean distance (dlib's convention: same person when distance < 0.6).
- facever: the service pipeline (`FacePipeline`: MTCNN detect, "centre" choice, align, ONNX embed of
  crop + flip, batch 1) with the evaluation protocol's centre-crop fallback; cosine similarity.
Both go through training.evaluation.verify_folds (LFW 10-fold, threshold fitted on the other 9 folds).
Latency is per image from the decoded RGB array to the embedding (decode excluded for both), one image
at a time. dlib runs single-threaded; facever's ONNX Runtime sessions get `--threads` (default 1, to match).
The two systems run interleaved, image by image, so both see the same moments of a noisy machine; nothing
is cached.

Writes benchmarks/results/peer_dlib.json and its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import load1, machine, percentiles, write_json, write_section
from service.config import REPO_ROOT, Settings
from service.vision.align import align_face, centred_landmarks
from service.vision.image_io import read_image
from service.vision.pipeline import FacePipeline
from training.evaluation import PairList, lfw_pairs, verify_folds

LFW = REPO_ROOT.parent / "shared" / "data" / "lfw"


def rel(path: Path) -> str:
    return str(Path(path).relative_to(LFW))


def centre_nearest(locations: list[tuple[int, int, int, int]], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """dlib locations are (top, right, bottom, left); keep the one whose centre is nearest the image centre."""
    cy, cx = shape[0] / 2, shape[1] / 2
    return min(locations, key=lambda b: ((b[0] + b[2]) / 2 - cy) ** 2 + ((b[1] + b[3]) / 2 - cx) ** 2)


def import_face_recognition():
    """face_recognition, shimming `pkg_resources` when setuptools >= 81 no longer ships it.

    face_recognition_models 0.3.0 only calls pkg_resources.resource_filename(__name__, "models/...") to find
    its .dat files; the shim answers that from the package's own folder instead of downgrading setuptools.
    """
    try:
        import pkg_resources  # noqa: F401
    except ModuleNotFoundError:
        import importlib.util
        import types

        shim = types.ModuleType("pkg_resources")

        def resource_filename(package: str, resource: str) -> str:
            origin = importlib.util.find_spec(package).origin
            return str(Path(origin).parent / resource)

        shim.resource_filename = resource_filename
        sys.modules["pkg_resources"] = shim
    import face_recognition

    return face_recognition


def dlib_one(face_recognition, rgb: np.ndarray) -> tuple[np.ndarray, bool]:  # noqa: ANN001
    """dlib's 128-D encoding of the face nearest the centre (HOG, 1 upsample); no face: the whole image."""
    locations = face_recognition.face_locations(rgb)
    loc = (0, rgb.shape[1], rgb.shape[0], 0) if not locations else centre_nearest(locations, rgb.shape)
    return face_recognition.face_encodings(rgb, known_face_locations=[loc])[0], not locations


def ours_one(pipeline: FacePipeline, rgb: np.ndarray) -> tuple[np.ndarray, bool]:
    """facever's 1024-D embedding (detect + choose + align + embed crop and mirror); no face: centre crop."""
    faces = pipeline.align(rgb, "centre")
    crop = faces[0].crop if faces else align_face(rgb, centred_landmarks(*rgb.shape[:2]))
    return pipeline.embedder.embed(crop[None])[0], not faces


def interleaved(paths: list[Path], pipeline: FacePipeline | None) -> dict[str, tuple[np.ndarray, ...]]:
    """Both systems on every image, one right after the other (which goes first alternates), so a slow
    moment of the machine hits both alike: name -> (vectors, per-image seconds, fallback flags)."""
    face_recognition = import_face_recognition()
    systems = {"dlib": lambda rgb: dlib_one(face_recognition, rgb)}
    if pipeline is not None:
        systems["facever"] = lambda rgb: ours_one(pipeline, rgb)
        ours_one(pipeline, read_image(str(paths[0]), pipeline.limits))  # warm-up: first ORT runs allocate
    out: dict[str, list[tuple[np.ndarray, float, bool]]] = {name: [] for name in systems}
    for i, path in enumerate(tqdm(paths, desc="dlib + facever", unit="img")):
        rgb = read_image(str(path))
        for name in (list(systems) if i % 2 == 0 else list(systems)[::-1]):
            t0 = time.perf_counter()
            vector, fallback = systems[name](rgb)
            out[name].append((np.asarray(vector, np.float64), time.perf_counter() - t0, fallback))
    return {name: (np.stack([r[0] for r in rows]), np.array([r[1] for r in rows]), np.array([r[2] for r in rows]))
            for name, rows in out.items()}


def pair_scores(paths: list[Path], vectors: np.ndarray, pairs: PairList, metric: str) -> np.ndarray:
    row = {p: i for i, p in enumerate(paths)}
    a = vectors[[row[p] for p in pairs.path_a]]
    b = vectors[[row[p] for p in pairs.path_b]]
    if metric == "neg_euclidean":
        return -np.linalg.norm(a - b, axis=1)
    return np.einsum("nd,nd->n", a, b)


def summarise(name: str, paths: list[Path], vectors: np.ndarray, seconds: np.ndarray, fallback: np.ndarray,
              pairs: PairList, metric: str, load: tuple[float, float]) -> dict:
    result = verify_folds(pair_scores(paths, vectors, pairs, metric), pairs.same, pairs.folds)
    return {
        "name": name, "metric": metric, "dim": int(vectors.shape[1]),
        "mean_accuracy": round(result.mean_accuracy, 4), "std_accuracy": round(result.std_accuracy, 4),
        "auc": round(result.auc, 4), "fold_accuracies": [round(a, 4) for a in result.fold_accuracies],
        "no_face_fallbacks": int(fallback.sum()), "latency": percentiles(list(seconds)),
        "load_avg_1m_before_after": list(load),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs-per-fold", type=int, default=300,
                        help="same and different pairs kept per fold (300 = all 6000 LFW pairs)")
    parser.add_argument("--threads", type=int, default=1, help="facever ONNX Runtime intra-op threads")
    parser.add_argument("--no-ours", action="store_true", help="skip the facever pass (dlib only)")
    args = parser.parse_args()

    pairs = lfw_pairs(LFW / "pairs.txt", LFW / "lfw-deepfunneled")
    if args.pairs_per_fold < 300:
        pairs = pairs.first_per_fold(args.pairs_per_fold)
    paths = pairs.unique_paths()
    print(f"{len(pairs)} pairs, {len(paths)} images", flush=True)

    settings = Settings(threads=args.threads)
    before = load1()
    results = interleaved(paths, None if args.no_ours else FacePipeline.from_settings(settings))
    load = (before, load1())
    rows = [summarise("dlib face_recognition (HOG + ResNet-29 128-D)", paths, *results["dlib"], pairs,
                      "neg_euclidean", load)]
    if "facever" in results:
        rows.append(summarise(f"facever ({settings.embedder}, MTCNN + ResNet20 1024-D)", paths, *results["facever"],
                              pairs, "cosine", load))
        rows[-1]["accuracy_meaningful"] = settings.embedder != "resnet20-random"
    ratio = (rows[0]["latency"]["p50_ms"] / rows[1]["latency"]["p50_ms"]) if len(rows) > 1 else None
    per_image = (float(np.median(results["dlib"][1] / results["facever"][1])) if "facever" in results else None)

    from importlib.metadata import version

    write_json("peer_dlib", {
        "machine": machine(), "pairs": len(pairs), "pairs_per_fold": args.pairs_per_fold, "images": len(paths),
        "facever_threads": args.threads, "dlib": version("dlib-bin"),
        "face_recognition": version("face-recognition"), "results": rows,
        "p50_latency_ratio_dlib_over_facever": None if ratio is None else round(ratio, 2),
        "median_per_image_ratio_dlib_over_facever": None if per_image is None else round(per_image, 2),
    })
    table = "\n".join(
        f"| {r['name']} | {r['metric']} | {100 * r['mean_accuracy']:.2f} ± {100 * r['std_accuracy']:.2f}"
        f"{'' if r.get('accuracy_meaningful', True) else ' (meaningless: random placeholder)'} | {r['auc']} | "
        f"{r['no_face_fallbacks']} | {r['latency']['p50_ms']} | {r['latency']['p95_ms']} | "
        f"{r['load_avg_1m_before_after'][0]} → {r['load_avg_1m_before_after'][1]} |" for r in rows)
    placeholder = not all(r.get("accuracy_meaningful", True) for r in rows)
    caveat = (f"**Our embedder `{settings.embedder}` is a random-initialised placeholder: its accuracy is MEANINGLESS**"
              " (reported only to show the harness runs end to end).\n\n" if placeholder else "")
    subset = ("all 6000 LFW pairs" if args.pairs_per_fold >= 300 else
              f"a SUBSET: the first {args.pairs_per_fold} same + {args.pairs_per_fold} different pairs of each "
              f"of the 10 folds ({len(pairs)} of 6000 pairs) — accuracy on a subset is not the published LFW number")
    write_section("peer_dlib", f"""
## Peer: dlib face_recognition (`benchmarks/peer_dlib.py`)

`make bench-peer` or `python benchmarks/peer_dlib.py --pairs-per-fold {args.pairs_per_fold} --threads {args.threads}`
— {subset}; {len(paths)} images (lfw-deepfunneled, 250x250). Both columns through our `verify_folds`
(10-fold, threshold fitted on the other 9 folds, mean ± population std). dlib
{version('dlib-bin')} / face_recognition {version('face-recognition')}: default HOG detector + 5-point
landmarks + 128-D ResNet, 1 jitter, scored by negative euclidean distance; no face -> whole image as the
location. facever: the service pipeline (MTCNN, face nearest the centre, align, ONNX crop + flip, batch 1,
{args.threads} ONNX Runtime thread(s)), no face -> centre crop. Latency per image = detect + (align +) encode
from the decoded image, one image at a time, decode excluded for both. The two run interleaved, image by
image (which goes first alternates), so machine noise hits both alike. dlib/facever p50 latency ratio:
**{'n/a' if ratio is None else f'{ratio:.2f}'}x**; median of the per-image ratios:
**{'n/a' if per_image is None else f'{per_image:.2f}'}x**. The load average is recorded around the run.

{caveat}| system | score | accuracy % | AUC | no-face fallbacks | p50 ms/img | p95 ms/img | load 1m before → after |
|---|---|---|---|---|---|---|---|
{table}
""")
    for r in rows:
        print(r["name"], r["mean_accuracy"], r["std_accuracy"], r["auc"], r["latency"])
    print("ratio dlib/facever p50:", ratio)


if __name__ == "__main__":
    main()
