"""Gallery search: exact (flat) vs IVF vs HNSW vs PCA+HNSW vs SQ8 at several sizes — build time, memory, latency,
recall@1.

Usage: python benchmarks/gallery_index.py [--sizes 10000 100000] [--kinds flat ivf hnsw hnsw-pca sq8]
       [--queries 200] [--data random|face-like] [--per-identity 10] [--omp-threads 0] [--build-threads 0]
       [--name gallery_index] [--render-only] [--nlist N] [--nprobes 16 ...] [--hnsw-m 32] [--ef-construction 80] [--ef-searches 64 ...]
       [--pca-dims 128] [--refine 10] [--noise 1.0]

Every index is the service's own `service.gallery.index.FaceIndex` (FaceIndex.build, then FaceIndex.search with
k=5, one query per call as /v1/identify does; IVF and the HNSW kinds are built once and searched at each
`--nprobes` / `--ef-searches` value through FaceIndex.tune). recall@1 = fraction of queries whose top-1 id
equals exact search's top-1 (exact = the flat index, or numpy when flat is not run); `answer_is_own` = top-1 belongs to the query's own identity.

Data (`--data`):
- random: n random 1024-D unit vectors (seed 0); queries are noisy copies of stored vectors,
  q = l2norm(x + e), |e| ≈ noise, cos(q, x) ≈ 1/sqrt(1 + noise²). No cluster structure: the hard case for IVF.
- face-like: n/per_identity identities sampled from a two-covariance Gaussian fitted to the shipped model's
  embeddings of every LFW image (benchmarks/face_like_vectors.py; fitted once, cached under --cache-dir);
  queries are fresh faces of enrolled identities — the structure a real gallery has.

IVF nlist defaults to round(sqrt(n)) (the service default 4·sqrt(n) needs 39·nlist training points, more than n
at 10k, and would silently fall back to flat). HNSW M 32, ef_construction 80 (the service defaults); hnsw-pca
the same graph over `--pca-dims` principal components, `--refine`·k candidates re-scored on the full vectors;
sq8 min_train 1000. `effective_kind` is reported so a fallback is visible. A 1M 1024-D HNSW build takes
hours on 2 cores: leave hnsw out of --kinds at 1M here (hnsw-pca at M 48 / ef_construction 200 took 30-36 min
with --build-threads 2).

Memory: FAISS index serialized size (faiss.serialize_index of the inner index) and the process RSS growth
during the build (includes the wrapper's Python id set). Writes benchmarks/results/<name>.json, its
section of docs/benchmarks.md and docs/benchmarks/<name>.png.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import face_like_vectors as flv
from benchmarks.report import RESULTS_DIR, ROOT, load1, machine, save_plot, write_json, write_section
from service.gallery.index import FaceIndex
from training.evaluation.cli import DEFAULT_CACHE, DEFAULT_LFW

DIM = 1024
K = 5
MIB = 1024 * 1024
PLOTS = ROOT / "docs" / "benchmarks"


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def env_prefix() -> str:
    """GLIBC_TUNABLES as a command prefix when set: hugetlb=1 gives the index transparent huge pages."""
    tunables = os.environ.get("GLIBC_TUNABLES")
    return f"GLIBC_TUNABLES={tunables} " if tunables else ""


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def params_for(kind: str, n: int, args: argparse.Namespace) -> dict:
    if kind == "ivf":
        return {"nlist": args.nlist or max(1, round(math.sqrt(n))), "nprobe": args.nprobes[0]}
    graph = {"M": args.hnsw_m, "ef_construction": args.ef_construction, "ef_search": args.ef_searches[0]}
    if kind == "hnsw":
        return graph
    if kind == "hnsw-pca":
        return {"dims": args.pca_dims, **graph, "refine": args.refine}
    return {}


# the search-time knob each kind is swept over on one build (and labelled with), and the argument listing its values
KNOBS = {"ivf": ("nprobe", "nprobes"), "hnsw": ("ef_search", "ef_searches"), "hnsw-pca": ("ef_search", "ef_searches")}


def search_settings(effective_kind: str, args: argparse.Namespace) -> list[dict]:
    """The search-time settings measured on one build: each nprobe for IVF, each ef_search for HNSW kinds."""
    if effective_kind not in KNOBS:
        return [{}]
    knob, values = KNOBS[effective_kind]
    return [{knob: v} for v in getattr(args, values)]


def timed_search(index: FaceIndex, queries: np.ndarray, truth: np.ndarray | None) -> tuple[dict, np.ndarray]:
    """One query per call, as /v1/identify does: p50/p95 latency and recall@1 against `truth`."""
    index.search(queries[:3], K)  # warm-up
    seconds, top1 = [], []
    for q in queries:
        t = time.perf_counter()
        _, found = index.search(q[None], K)
        seconds.append(time.perf_counter() - t)
        top1.append(found[0, 0])
    top1 = np.array(top1)
    ms = np.array(seconds) * 1000
    return {
        "search_p50_ms": round(float(np.percentile(ms, 50)), 3),
        "search_p95_ms": round(float(np.percentile(ms, 95)), 3),
        "recall_at_1": None if truth is None else round(float((top1 == truth).mean()), 4),
    }, top1


def measure(
    kind: str, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray | None, args: argparse.Namespace
) -> list[tuple[dict, np.ndarray]]:
    """Build once; one row per search setting (see search_settings)."""
    params = params_for(kind, len(vectors), args)
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    gc.collect()
    search_threads = faiss.omp_get_max_threads()
    if args.build_threads:
        faiss.omp_set_num_threads(args.build_threads)
    load_before, rss0, t0 = load1(), rss_bytes(), time.perf_counter()
    index = FaceIndex.build(DIM, kind, params, ids, vectors)
    faiss.omp_set_num_threads(search_threads)
    build = {
        "kind": kind, "effective_kind": index.effective_kind, "n": len(vectors),
        "build_s": round(time.perf_counter() - t0, 2), "rss_growth_mib": round((rss_bytes() - rss0) / MIB, 1),
        "serialized_mib": round(faiss.serialize_index(index._index).nbytes / MIB, 1),
    }
    rows = []
    for setting in search_settings(index.effective_kind, args):
        index.tune(**setting)
        searched, top1 = timed_search(index, queries, truth)
        rows.append(({**build, "params": dict(index.params), **searched,
                      "load_avg_1m_before_after": [load_before, load1()]}, top1))
    del index
    gc.collect()
    return rows


def make_data(n: int, args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(stored vectors, queries, the owner of each stored row, the owner each query belongs to).

    Random data: a row owns itself and a query is a noisy copy of one row. Face-like: owners are identities.
    """
    if args.data == "face-like":
        model = face_model(args)
        vectors, labels, centres = model.sample(math.ceil(n / args.per_identity), args.per_identity, seed=0)
        vectors, labels = vectors[:n], labels[:n]
        rng = np.random.default_rng(1)
        wanted = rng.choice(labels[-1] + 1, args.queries)
        return vectors, model.faces_of(centres, wanted, rng), labels, wanted
    rng = np.random.default_rng(0)
    vectors = unit(rng.standard_normal((n, DIM), dtype=np.float32))
    src = rng.integers(0, n, args.queries)
    noise = rng.standard_normal((args.queries, DIM), dtype=np.float32) * np.float32(args.noise / math.sqrt(DIM))
    return vectors, unit(vectors[src] + noise), np.arange(n), src


def face_model(args: argparse.Namespace) -> flv.TwoCovariance:
    """The two-covariance model of the shipped model's LFW embeddings (fitted once, cached)."""
    cache = args.cache_dir / "face_like_model.npz"
    if not cache.exists():
        vectors, people = flv.lfw_embeddings(args.lfw_dir, args.cache_dir / "lfw_embeddings.npz", DEFAULT_CACHE)
        real = flv.cosine_stats(vectors, people, 20_000, 0)
        fitted = flv.calibrate_within(flv.fit(vectors, people), real["same_mean"])
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, mean=fitted.mean, between=fitted.between, within=fitted.within,
                 **{f"real_{k}": v for k, v in real.items()})
    saved = np.load(cache)
    return flv.TwoCovariance(saved["mean"], saved["between"], saved["within"])


def plot(rows: list[dict], path: Path) -> None:
    """Latency against gallery size; at a single size, recall@1 against latency (the trade-off that matters)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    if len({r["n"] for r in rows}) == 1:
        for key, label in (("recall_at_1", "face recall@1"), ("identity_recall_at_1", "identity recall@1")):
            points = [(r["search_p50_ms"], r[key], series(r)) for r in rows if r.get(key) is not None]
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", linestyle="", label=label)
            for x, y, name in points if key == "recall_at_1" else []:
                ax.annotate(name, (x, y), fontsize=7, xytext=(4, -10), textcoords="offset points")
        ax.axvline(5, color="grey", linestyle=":")
        ax.axhline(0.99, color="grey", linestyle=":")
        ax.set_xscale("log")
        ax.set_xlabel("p50 search latency, 1 query, k=5 (ms)")
        ax.set_ylabel("recall@1 against exact search")
        ax.set_title(f"FaceIndex at {rows[0]['n']:,} vectors (target: left of 5 ms, above 0.99)")
    else:
        for label in dict.fromkeys(series(r) for r in rows):
            pts = sorted((r["n"], r["search_p50_ms"]) for r in rows if series(r) == label)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("gallery size (1024-D vectors)")
        ax.set_ylabel("p50 search latency, 1 query, k=5 (ms)")
        ax.set_title("FaceIndex search latency (2 shared cores)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    save_plot(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--kinds", nargs="+", default=["flat", "ivf", "hnsw", "sq8"],
                        choices=["flat", "ivf", "hnsw", "hnsw-pca", "sq8"])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--noise", type=float, default=1.0, help="norm of the gaussian added to a stored vector")
    parser.add_argument("--nprobes", type=int, nargs="+", default=[16], help="IVF: one row per nprobe, one build")
    parser.add_argument("--nlist", type=int, help="IVF lists (default round(sqrt(n)))")
    parser.add_argument("--data", choices=["random", "face-like"], default="random",
                        help="random unit vectors, or samples of a Gaussian fitted to real LFW embeddings")
    parser.add_argument("--per-identity", type=int, default=10, help="face-like: faces per identity")
    parser.add_argument("--lfw-dir", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "benchmarks")
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--ef-searches", type=int, nargs="+", default=[64],
                        help="HNSW kinds: one row per ef_search, one build")
    parser.add_argument("--pca-dims", type=int, default=128, help="hnsw-pca: principal components in the graph")
    parser.add_argument("--refine", type=int, default=10, help="hnsw-pca: candidates re-scored per result")
    parser.add_argument("--omp-threads", type=int, default=0,
                        help="FAISS OpenMP threads (the service's index_threads); 0 = FAISS default")
    parser.add_argument("--build-threads", type=int, default=0,
                        help="FAISS threads while building (a rebuild runs off the request path); 0 = as searching")
    parser.add_argument("--name", default="gallery_index",
                        help="results/<name>.json, docs section <name>, docs/benchmarks/<name>.png (variants)")
    parser.add_argument("--render-only", action="store_true",
                        help="no measuring: rewrite the section and plot from benchmarks/results/<name>.json")
    args = parser.parse_args()
    if args.render_only:
        render(args.name, json.loads((RESULTS_DIR / f"{args.name}.json").read_text()))
        return
    if args.omp_threads > 0:
        faiss.omp_set_num_threads(args.omp_threads)

    kinds = ["flat"] + [k for k in args.kinds if k != "flat"] if "flat" in args.kinds else args.kinds
    rows, synthetic_stats = [], None
    for n in args.sizes:
        vectors, queries, owner, wanted = make_data(n, args)
        if args.data == "face-like" and synthetic_stats is None:
            synthetic_stats = flv.cosine_stats(vectors, owner, 20_000, 0)
        truth = None
        if "flat" not in kinds:
            truth = np.concatenate([np.argmax(queries[i:i + 50] @ vectors.T, axis=1)
                                    for i in range(0, len(queries), 50)]) + 1
        for kind in tqdm(kinds, desc=f"n={n}", unit="index"):
            for row, top1 in measure(kind, vectors, queries, truth, args):
                if kind == "flat":
                    truth = top1
                    row["recall_at_1"] = 1.0
                row["identity_recall_at_1"] = round(float((owner[top1 - 1] == owner[truth - 1]).mean()), 4)
                row["answer_is_own"] = round(float((owner[top1 - 1] == wanted).mean()), 4)
                rows.append(row)
                tqdm.write(str(row))
        del vectors

    payload = {"machine": machine(), "faiss": faiss.__version__, "faiss_omp_threads": faiss.omp_get_max_threads(),
               "omp_threads_arg": args.omp_threads, "build_threads": args.build_threads, "sizes": args.sizes,
               "dim": DIM, "k": K,
               "queries": args.queries, "noise": args.noise, "data": args.data, "per_identity": args.per_identity,
               "command": f"{env_prefix()}python benchmarks/gallery_index.py {shlex.join(sys.argv[1:])}",
               "results": rows}
    if args.data == "face-like":
        saved = np.load(args.cache_dir / "face_like_model.npz")
        payload["face_model_stats"] = {
            "real": {k.removeprefix("real_"): float(saved[k]) for k in saved.files if k.startswith("real_")},
            "synthetic": synthetic_stats}
    write_json(args.name, payload)
    render(args.name, payload)


HEAD = ("| n | kind | effective kind | params | build s | serialized MiB | RSS growth MiB | p50 ms | p95 ms | recall@1 "
        "| identity recall@1 | top-1 is own | load 1m before → after |")


def series(row: dict) -> str:
    """Plot/table label: the kind, with nprobe for IVF and ef_search for the HNSW kinds."""
    if row["effective_kind"] not in KNOBS:
        return row["kind"]
    knob = KNOBS[row["effective_kind"]][0]
    return f"{row['kind']} {knob}={row['params'][knob]}"


def data_text(p: dict) -> str:
    if p.get("data", "random") == "random":
        cos = 1 / math.sqrt(1 + p["noise"] ** 2)
        return (f"n random 1024-D unit vectors; each query a noisy copy of a stored vector (cos ≈ {cos:.2f} to its "
                "source). Random vectors have no cluster structure — the hard case for IVF and HNSW.")
    stats = p["face_model_stats"]
    real, fake = stats["real"], stats["synthetic"]
    return (f"face-like vectors: n/{p['per_identity']} identities × {p['per_identity']} faces sampled from a "
            "two-covariance Gaussian fitted to the shipped model's embeddings of all LFW images here "
            "(`benchmarks/face_like_vectors.py`), each query a fresh face of an enrolled identity. Check against "
            f"the real embeddings (mean ± std cosine of random pairs): same person {real['same_mean']:.3f} ± "
            f"{real['same_std']:.3f} real vs {fake['same_mean']:.3f} ± {fake['same_std']:.3f} sampled; different "
            f"people {real['different_mean']:.3f} ± {real['different_std']:.3f} real vs {fake['different_mean']:.3f}"
            f" ± {fake['different_std']:.3f} sampled.")


def legacy_command(name: str, p: dict) -> str:
    """The command of a results file written before the command was saved in it (random data then)."""
    return (f"python benchmarks/gallery_index.py --name {name} --sizes {' '.join(map(str, p['sizes']))} "
            f"--queries {p['queries']} --noise {p['noise']} --omp-threads {p['omp_threads_arg']}")


def render(name: str, p: dict) -> None:
    """The PNG and the docs section from a results payload (also `--render-only` from the saved JSON)."""
    rows = p["results"]
    plot(rows, PLOTS / f"{name}.png")
    table = "\n".join(
        f"| {r['n']:,} | {r['kind']} | {r['effective_kind']} | "
        f"{', '.join(f'{k}={v}' for k, v in r['params'].items()) or '—'} | {r['build_s']} | "
        f"{r['serialized_mib']} | {r['rss_growth_mib']} | {r['search_p50_ms']} | {r['search_p95_ms']} | "
        f"{r['recall_at_1']} | {r.get('identity_recall_at_1', '—')} | {r.get('answer_is_own', '—')} | "
        f"{r['load_avg_1m_before_after'][0]} → {r['load_avg_1m_before_after'][1]} |"
        for r in rows)
    threads = "" if p["omp_threads_arg"] == 0 else f", FAISS pinned to {p['omp_threads_arg']} OpenMP thread(s)"
    if p.get("build_threads"):
        threads += f", {p['build_threads']} while building"
    write_section(name, f"""
## Gallery index kinds: {name} (`benchmarks/gallery_index.py`{threads})

`{p.get('command') or legacy_command(name, p)}`
— `service.gallery.index.FaceIndex` (what the service runs; FAISS {p['faiss']},
{p['faiss_omp_threads']} OpenMP threads), {p['queries']} queries searched one at a time with k={p['k']}. Data:
{data_text(p)} recall@1 = top-1 face equal to exact (flat) search's top-1 face; identity recall@1 = top-1
face of the same identity as exact search's top-1 (an index of faces; the service's index holds one template per identity, so a gallery of N faces puts at most N vectors in it);
top-1 is own = the top-1 belongs to the query's own source/identity. `effective kind` shows what was searched (trainable kinds fall back to flat when
too few vectors). Memory: serialized FAISS index and process RSS growth during the build (RSS can read low when
the allocator reuses memory the previous index freed; the serialized size is the reliable figure). 2 cores,
sometimes shared with a training job: timings move with the load average recorded per row. Plot: `docs/benchmarks/{name}.png`.

{HEAD}
|---|---|---|---|---|---|---|---|---|---|---|---|---|
{table}
""")


if __name__ == "__main__":
    main()
