"""Memory of the gallery's FAISS index per kind, for the sizing guide in docs/operations.md.

Builds each index kind the service offers (service.gallery.index.FaceIndex, default params) over `n` random
1024-D unit vectors, and reports the FAISS index's serialized size and the process's resident-memory growth
(FAISS structures plus the wrapper's id bookkeeping), both extrapolated linearly to 1M faces.

Usage: python benchmarks/index_memory.py [--n 100000] [--kinds flat ivf sq8 hnsw]
Writes benchmarks/results/index_memory.json and its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import machine, write_json, write_section
from service.gallery.index import FaceIndex

DIM = 1024
MIB = 1024 * 1024


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(kind: str, ids: np.ndarray, vectors: np.ndarray) -> dict:
    gc.collect()
    before, t0 = rss_bytes(), time.perf_counter()
    index = FaceIndex.build(DIM, kind, None, ids, vectors)
    seconds = time.perf_counter() - t0
    grown = rss_bytes() - before
    serialized = faiss.serialize_index(index._index).nbytes  # the FAISS structure alone
    per_million = 1_000_000 / len(ids)
    result = {
        "kind": kind,
        "effective_kind": index.effective_kind,
        "build_s": round(seconds, 1),
        "serialized_mib": round(serialized / MIB, 1),
        "rss_growth_mib": round(grown / MIB, 1),
        "serialized_mib_per_1m": round(serialized * per_million / MIB),
        "rss_mib_per_1m": round(grown * per_million / MIB),
    }
    del index
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--kinds", nargs="+", default=["flat", "ivf", "sq8", "hnsw"])
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1, args.n + 1, dtype=np.int64)
    rows = []
    for kind in args.kinds:
        rows.append(measure(kind, ids, vectors))
        print(rows[-1], flush=True)

    write_json("index_memory", {"machine": machine(), "n": args.n, "dim": DIM, "faiss": faiss.__version__,
                                "results": rows})
    table = "\n".join(
        f"| {r['kind']} | {r['serialized_mib']} | {r['rss_growth_mib']} | {r['serialized_mib_per_1m']} | "
        f"{r['rss_mib_per_1m']} | {r['build_s']} |" for r in rows)
    write_section("index_memory", f"""
## Index memory per kind (`benchmarks/index_memory.py`)

{args.n:,} random {DIM}-D unit vectors in each index kind with the service's default parameters (FAISS
{faiss.__version__}); per 1M faces extrapolated linearly. RSS growth includes the wrapper's Python set of ids.

| kind | serialized MiB | RSS growth MiB | serialized MiB / 1M | RSS MiB / 1M | build s |
|---|---|---|---|---|---|
{table}
""")


if __name__ == "__main__":
    main()
