"""Gallery search: exact (flat) vs IVF vs HNSW vs SQ8 at several sizes — build time, memory, latency, recall@1.

Usage: python benchmarks/gallery_index.py [--sizes 10000 100000] [--kinds flat ivf hnsw sq8] [--queries 200]
       [--omp-threads 0] [--name gallery_index] [--render-only]
       [--nprobe 16] [--hnsw-m 32] [--ef-construction 80] [--ef-search 64] [--noise 1.0]

Every index is the service's own `service.gallery.index.FaceIndex` (FaceIndex.build, then FaceIndex.search with
k=5, one query per call as /v1/identify does). Data: n random 1024-D unit vectors (seed 0). Queries are noisy
copies of randomly chosen stored vectors, q = l2norm(x + e), e ~ N(0, (noise²/1024)·I), so |e| ≈ noise and
cos(q, x) ≈ 1/sqrt(1 + noise²) (0.71 at the default 1.0 — like a same-person pair). recall@1 = fraction of
queries whose top-1 id equals exact search's top-1 (exact = the flat index, or numpy when flat is not run).
Random vectors have no cluster structure, the hard case for IVF's coarse quantiser; real face embeddings
cluster by identity, so IVF/HNSW recall on them is usually higher at the same parameters.

Parameters passed to FaceIndex (documented in the JSON): ivf nlist = round(sqrt(n)) (the service default
4·sqrt(n) needs 39·nlist training points, more than n at 10k, and would silently fall back to flat), nprobe
16; hnsw M 32, ef_construction 80, ef_search 64 (the service defaults); sq8 min_train 1000 (default).
`effective_kind` is reported so a fallback is visible. 1M (`--sizes ... 1000000`) needs ~4 GiB per stored copy
and an HNSW build of hours on 2 shared cores: run it on a bigger machine.

Memory: FAISS index serialized size (faiss.serialize_index of the inner index) and the process RSS growth
during the build (includes the wrapper's Python id set). Writes benchmarks/results/gallery_index.json, its
section of docs/benchmarks.md and docs/benchmarks/gallery_index.png.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import RESULTS_DIR, ROOT, load1, machine, save_plot, write_json, write_section
from service.gallery.index import FaceIndex

DIM = 1024
K = 5
MIB = 1024 * 1024
PLOTS = ROOT / "docs" / "benchmarks"


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def params_for(kind: str, n: int, args: argparse.Namespace) -> dict:
    if kind == "ivf":
        return {"nlist": max(1, round(math.sqrt(n))), "nprobe": args.nprobe}
    if kind == "hnsw":
        return {"M": args.hnsw_m, "ef_construction": args.ef_construction, "ef_search": args.ef_search}
    return {}


def measure(
    kind: str, params: dict, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray | None
) -> tuple[dict, np.ndarray]:
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    gc.collect()
    load_before, rss0, t0 = load1(), rss_bytes(), time.perf_counter()
    index = FaceIndex.build(DIM, kind, params, ids, vectors)
    build_s = time.perf_counter() - t0
    rss_grown = rss_bytes() - rss0
    serialized = faiss.serialize_index(index._index).nbytes
    index.search(queries[:3], K)  # warm-up
    seconds, top1 = [], []
    for q in queries:
        t = time.perf_counter()
        _, found = index.search(q[None], K)
        seconds.append(time.perf_counter() - t)
        top1.append(found[0, 0])
    top1 = np.array(top1)
    ms = np.array(seconds) * 1000
    row = {
        "kind": kind, "effective_kind": index.effective_kind, "n": len(vectors), "params": params,
        "build_s": round(build_s, 2), "serialized_mib": round(serialized / MIB, 1),
        "rss_growth_mib": round(rss_grown / MIB, 1),
        "search_p50_ms": round(float(np.percentile(ms, 50)), 3),
        "search_p95_ms": round(float(np.percentile(ms, 95)), 3),
        "recall_at_1": None if truth is None else round(float((top1 == truth).mean()), 4),
        "load_avg_1m_before_after": [load_before, load1()],
    }
    del index
    gc.collect()
    return row, top1


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for kind in dict.fromkeys(r["kind"] for r in rows):
        pts = sorted((r["n"], r["search_p50_ms"]) for r in rows if r["kind"] == kind)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=kind)
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
    parser.add_argument("--kinds", nargs="+", default=["flat", "ivf", "hnsw", "sq8"])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--noise", type=float, default=1.0, help="norm of the gaussian added to a stored vector")
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--ef-search", type=int, default=64)
    parser.add_argument("--omp-threads", type=int, default=0,
                        help="FAISS OpenMP threads (the service's index_threads); 0 = FAISS default")
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
    rows = []
    for n in args.sizes:
        rng = np.random.default_rng(0)
        vectors = unit(rng.standard_normal((n, DIM), dtype=np.float32))
        src = rng.integers(0, n, args.queries)
        queries = unit(vectors[src] + rng.standard_normal((args.queries, DIM), dtype=np.float32)
                       * np.float32(args.noise / math.sqrt(DIM)))
        truth = None
        if "flat" not in kinds:
            truth = np.argmax(queries @ vectors.T, axis=1) + 1
        for kind in tqdm(kinds, desc=f"n={n}", unit="index"):
            row, top1 = measure(kind, params_for(kind, n, args), vectors, queries, truth)
            if kind == "flat":
                truth = top1
                row["recall_at_1"] = 1.0
            row["source_is_top1"] = round(float((truth == src + 1).mean()), 4)
            rows.append(row)
            tqdm.write(str(row))
        del vectors

    payload = {"machine": machine(), "faiss": faiss.__version__, "faiss_omp_threads": faiss.omp_get_max_threads(),
               "omp_threads_arg": args.omp_threads, "sizes": args.sizes, "dim": DIM, "k": K,
               "queries": args.queries, "noise": args.noise, "results": rows}
    write_json(args.name, payload)
    render(args.name, payload)


NOT_1M = "1M was not run: ~4 GiB per stored copy and an HNSW build of hours on 2 shared cores. "
HEAD = ("| n | kind | effective kind | params | build s | serialized MiB | RSS growth MiB | p50 ms | p95 ms | recall@1 "
        "| load 1m before → after |")


def render(name: str, p: dict) -> None:
    """The PNG and the docs section from a results payload (also `--render-only` from the saved JSON)."""
    rows = p["results"]
    plot(rows, PLOTS / f"{name}.png")
    table = "\n".join(
        f"| {r['n']:,} | {r['kind']} | {r['effective_kind']} | "
        f"{', '.join(f'{k}={v}' for k, v in r['params'].items()) or '—'} | {r['build_s']} | "
        f"{r['serialized_mib']} | {r['rss_growth_mib']} | {r['search_p50_ms']} | {r['search_p95_ms']} | "
        f"{r['recall_at_1']} | {r['load_avg_1m_before_after'][0]} → {r['load_avg_1m_before_after'][1]} |"
        for r in rows)
    cos = 1 / math.sqrt(1 + p["noise"] ** 2)
    title = "" if p["omp_threads_arg"] == 0 else f", FAISS pinned to {p['omp_threads_arg']} OpenMP thread(s)"
    write_section(name, f"""
## Gallery index kinds (`benchmarks/gallery_index.py`{title})

`python benchmarks/gallery_index.py --name {name} --sizes {' '.join(map(str, p['sizes']))} --queries {p['queries']}
--noise {p['noise']} --omp-threads {p['omp_threads_arg']}`
— `service.gallery.index.FaceIndex` (what the service runs; FAISS {p['faiss']},
{p['faiss_omp_threads']} OpenMP threads) over n random 1024-D unit vectors; {p['queries']} queries, each a
noisy copy of a stored vector (cos ≈ {cos:.2f} to its source), searched one at a time with k={p['k']}. recall@1 =
top-1 equal to exact (flat) search's top-1. Random vectors have no cluster structure — the hard case for IVF
and HNSW; real embeddings cluster by identity. IVF uses nlist = round(sqrt(n)) so that it really trains at
both sizes (the service default 4·sqrt(n) falls back to flat below 39·nlist vectors, i.e. at 10k);
`effective kind` shows what was searched. Memory: serialized FAISS index and process RSS growth during the
build (RSS can read low when the allocator reuses memory the previous index freed; the serialized size is the
reliable figure). {'' if max(p['sizes']) >= 1_000_000 else NOT_1M}2 shared cores
(another job trains on them): timings are indicative, load average recorded per row. Single-query latency is
very sensitive to FAISS's OpenMP thread count when the cores are busy (OpenMP threads wait on each other
while the other job holds a core): compare runs with `--omp-threads 1` (the service's `index_threads`).
Plot: `docs/benchmarks/{name}.png`.

{HEAD}
|---|---|---|---|---|---|---|---|---|---|---|
{table}
""")


if __name__ == "__main__":
    main()
