"""End-to-end latency and throughput of /v1/verify and /v1/identify over real HTTP, against a padded gallery.

Starts `facever serve` on a free port (auth off, a fresh SQLite database in a temporary folder). Before
it starts, the database is padded with distractor faces (random unit vectors stored under the active
embedder's name, through the service's own repository code) so that, once `--people` LFW people are
enrolled through the API, the gallery holds `--gallery-size` faces. Then each route is driven by an
async httpx load generator at every `--concurrency` (requests in flight). Identify probes are other
images of the enrolled people, so their top-1 answers also give an accuracy figure.

Usage: python benchmarks/service_latency.py [--people 200] [--gallery-size 10000] [--requests 200]
           [--concurrency 1 4 16] [--embedder NAME] [--threads 0] [--index-threads 0] [--name service_latency]
Writes benchmarks/results/<name>.json and the <name> section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import ROOT, load1, machine, percentiles, write_json, write_section
from service.config import Settings
from service.db.engine import make_engine, session_factory, write_session
from service.db.migrate import upgrade
from service.gallery import repository
from service.gallery.repository import NewFace
from service.vision.model_card import load_model_card

NAME = "service_latency"
LFW_DIR = ROOT.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"
PLACEHOLDER = "resnet20-random"  # the random-init stand-in: its answers are meaningless
READY_TIMEOUT_S = 600.0  # model loading + index build; took 2 min at nice 19 beside a training job
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 300.0  # a request queued behind 15 others on 2 busy cores can wait minutes
WARMUP = 3  # requests per route before timing: first ONNX Runtime runs allocate
SEED = 0
# faces per distractor identity: one add_faces call inserts them in a batch (one face per identity
# wrote 4x slower), and real galleries hold several faces per person anyway
DISTRACTOR_FACES = 10

Person = tuple[str, list[Path]]  # LFW folder name, its images (sorted)
Request = tuple[str, dict, dict]  # path, multipart files, form fields


# --- data -------------------------------------------------------------------------------------------


def lfw_candidates() -> list[Person]:
    """LFW people with at least two images, sorted: the first is enrolled, the second is the probe."""
    people = ((p.name, sorted(p.glob("*.jpg"))) for p in sorted(LFW_DIR.iterdir()) if p.is_dir())
    return [(name, images) for name, images in people if len(images) >= 2]


def verify_pairs(people: list[Person]) -> list[tuple[bytes, bytes]]:
    """Alternating same-person pairs (images 1 and 2 of a person) and different-person pairs."""
    same = [(images[0], images[1]) for _, images in people]
    diff = [(people[i][1][0], people[i + 1][1][0]) for i in range(len(people) - 1)]
    pairs = [p for both in zip(same, diff) for p in both] or same
    return [(a.read_bytes(), b.read_bytes()) for a, b in pairs]


@dataclass(frozen=True)
class Probe:
    """An identify query: an image not enrolled, of an enrolled identity."""

    name: str
    image: bytes
    identity_id: int


# --- distractors ------------------------------------------------------------------------------------


def pad_gallery(database_url: str, embedder: str, dim: int, count: int) -> float:
    """Write `count` distractor faces straight into the database, DISTRACTOR_FACES per identity; returns seconds.

    Random unit vectors: a flat search costs the same whatever the values, and enrolling 10k real
    images through the API would mean ~10 minutes of detection on 2 cores. Stored under the active
    embedder's name, so the service's index loads them at start like any enrolled face.
    """
    t0 = time.perf_counter()
    upgrade(database_url)  # the service would migrate at start too; the tables must exist first
    vectors = np.random.default_rng(SEED).standard_normal((count, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    engine = make_engine(database_url)
    try:
        with write_session(session_factory(engine)) as session:
            for start in tqdm(range(0, count, DISTRACTOR_FACES), desc="distractors", unit="identity"):
                identity = repository.create_identity(session, f"distractor {start:05d}", metadata={"distractor": True})
                faces = [_distractor_face(v) for v in vectors[start : start + DISTRACTOR_FACES]]
                repository.add_faces(session, identity.id, embedder, faces)
    finally:
        engine.dispose()
    return time.perf_counter() - t0


def _distractor_face(vector: np.ndarray) -> NewFace:
    # no crop: `facever reembed` has nothing to re-embed, which is right for a random vector
    return NewFace(
        embedding=vector,
        score=1.0,
        box=[0.0, 0.0, 0.0, 0.0],
        landmarks=[[0.0, 0.0]] * 5,
        crop_jpeg=None,
        image_sha256=hashlib.sha256(vector.tobytes()).hexdigest(),
    )


# --- the service ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    facever = shutil.which("facever") or str(Path(sys.executable).parent / "facever")
    with log.open("wb") as out:
        return subprocess.Popen(
            [facever, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=os.environ | env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_ready(proc: subprocess.Popen, base: str, log: Path) -> float:
    """Seconds until /v1/ready says ready; exits with the service log if it dies or never gets there."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < READY_TIMEOUT_S:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/v1/ready", timeout=2).status_code == 200:
                return time.perf_counter() - t0
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"the service was not ready within {READY_TIMEOUT_S:.0f} s:\n{log.read_text()[-4000:]}")


def stop_service(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)


def index_size(client: httpx.Client) -> int:
    """Faces in the service's search index, from /metrics: proof that the distractors were loaded."""
    found = re.search(r"^facever_index_faces\S* (\S+)$", client.get("/metrics").text, re.MULTILINE)
    return int(float(found.group(1))) if found else -1


# --- enrolment ---------------------------------------------------------------------------------------


def enrol(client: httpx.Client, candidates: list[Person], wanted: int) -> tuple[list[Person], list[Probe], dict]:
    """Enrol the first image of candidates, in order, until `wanted` are in; rejections counted by reason."""
    reasons: Counter[str] = Counter()
    people, probes = [], []
    bar = tqdm(total=wanted, desc="enrol", unit="person")
    for name, images in candidates:
        if len(people) == wanted:
            break
        created = client.post("/v1/identities", json={"name": name.replace("_", " "), "external_id": name})
        created.raise_for_status()
        identity_id = created.json()["id"]
        answer = client.post(f"/v1/identities/{identity_id}/faces", files=[_jpeg("images", images[0])])
        if answer.status_code == 201 and answer.json()["enrolled"]:
            people.append((name, images))
            probes.append(Probe(name, images[1].read_bytes(), identity_id))
            bar.update()
        elif answer.status_code == 201:
            reasons.update(r["reason"] for r in answer.json()["results"] if r["status"] == "rejected")
        elif 400 <= answer.status_code < 500:
            reasons[_code(answer)] += 1
        else:
            answer.raise_for_status()
    bar.close()
    if len(people) < wanted:
        raise SystemExit(f"only {len(people)} LFW people could be enrolled, {wanted} wanted")
    tried = len(people) + sum(reasons.values())
    return people, probes, {"tried": tried, "enrolled": len(people), "rejections": dict(reasons)}


def _jpeg(field_name: str, path: Path) -> tuple[str, tuple[str, bytes, str]]:
    return field_name, (path.name, path.read_bytes(), "image/jpeg")


# --- load generation -----------------------------------------------------------------------------------


@dataclass
class Block:
    """One timed run of a route at one concurrency; `answers` keeps the 200 bodies by request index."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    answers: dict[int, dict] = field(default_factory=dict)
    wall_s: float = 0.0

    def record(self, i: int, answer: httpx.Response, elapsed_s: float) -> None:
        if answer.status_code == 200:
            self.latencies.append(elapsed_s)
            self.answers[i] = answer.json()
        else:
            self.errors[_code(answer)] += 1

    @property
    def requests(self) -> int:
        """Requests sent: indices 0 .. requests-1, answered or not."""
        return len(self.latencies) + sum(self.errors.values())


def request_builders(pairs: list[tuple[bytes, bytes]], probes: list[Probe]) -> dict[str, Callable[[int], Request]]:
    """route -> function(i) giving the i-th request, cycling through the inputs."""

    def verify(i: int) -> Request:
        a, b = pairs[i % len(pairs)]
        return "/v1/verify", {"image_a": ("a.jpg", a, "image/jpeg"), "image_b": ("b.jpg", b, "image/jpeg")}, {}

    def identify(i: int) -> Request:
        return "/v1/identify", {"image": ("probe.jpg", probes[i % len(probes)].image, "image/jpeg")}, {"top_k": "5"}

    return {"verify": verify, "identify": identify}


async def run_block(base: str, build: Callable[[int], Request], count: int, concurrency: int, label: str) -> Block:
    """`count` requests from `concurrency` workers sharing one queue: N always in flight (1 = sequential)."""
    block, next_index = Block(), iter(range(count))
    bar = tqdm(total=count, desc=label, unit="req")
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:

        async def worker() -> None:
            for i in next_index:  # shared iterator: each index handed out once
                path, files, data = build(i)
                t0 = time.perf_counter()
                try:
                    answer = await client.post(path, files=files, data=data)
                except httpx.TransportError as exc:  # a timeout is a result to report, not a crash
                    block.errors[type(exc).__name__] += 1
                else:
                    block.record(i, answer, time.perf_counter() - t0)
                bar.update()

        t_start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        block.wall_s = time.perf_counter() - t_start
    bar.close()
    return block


def _code(answer: httpx.Response) -> str:
    try:
        return answer.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):  # not the error envelope
        return f"http_{answer.status_code}"


def summarise(block: Block, concurrency: int, load: list[float]) -> dict:
    stats = percentiles(block.latencies) if block.latencies else {"n": 0}
    return stats | {
        "concurrency": concurrency,
        "requests": block.requests,
        "errors": dict(block.errors),
        "wall_s": round(block.wall_s, 3),
        "req_per_s": round(block.requests / block.wall_s, 2) if block.wall_s > 0 else None,
        "load_avg_1m_before_after": load,
    }


def add_top1(top1: dict[int, bool], block: Block, probes: list[Probe]) -> None:
    """Record, per probe index, whether identify's first candidate was the probe's identity (no answer: wrong)."""
    for i in range(block.requests):
        k, answer = i % len(probes), block.answers.get(i)
        candidates = (answer or {}).get("candidates") or [{}]
        top1[k] = top1.get(k, False) or candidates[0].get("identity", {}).get("id") == probes[k].identity_id


def measure(base: str, builders: dict, probes: list[Probe], args: argparse.Namespace) -> tuple[dict, dict[int, bool]]:
    """route -> one summary per concurrency, and the top-1 outcome of every identify probe sent."""
    for route, build in builders.items():  # warm-up, not timed
        asyncio.run(run_block(base, build, WARMUP, 1, f"warm-up {route}"))
    routes: dict[str, list[dict]] = {route: [] for route in builders}
    top1: dict[int, bool] = {}
    for concurrency in args.concurrency:
        for route, build in builders.items():
            before = load1()
            block = asyncio.run(run_block(base, build, args.requests, concurrency, f"{route} c={concurrency}"))
            routes[route].append(summarise(block, concurrency, [before, load1()]))
            if route == "identify":
                add_top1(top1, block, probes)
    return routes, top1


# --- report ----------------------------------------------------------------------------------------------


def render(name: str, p: dict) -> None:
    """The docs section from a results payload."""
    rows = "\n".join(
        f"| /v1/{route} | {r['concurrency']} | {r.get('p50_ms', '-')} | {r.get('p95_ms', '-')} "
        f"| {r.get('p99_ms', '-')} | {r['req_per_s']} | {sum(r['errors'].values())} "
        f"| {r['load_avg_1m_before_after'][0]} → {r['load_avg_1m_before_after'][1]} |"
        for route, results in p["routes"].items()
        for r in results
    )
    g, acc, env = p["gallery"], p["identify_top1"], p["service_env"]
    rejections = ", ".join(f"{k}: {v}" for k, v in g["rejections"].items()) or "none"
    embedder = (
        f"The embedder is `{PLACEHOLDER}`, the random-init placeholder: its similarities (and so the verify/identify "
        "answers and the top-1 figure) are meaningless, but it is the real ResNet20 graph, so its speed is that of "
        "the real model."
        if p["embedder"] == PLACEHOLDER
        else f"Embedder `{p['embedder']}`."
    )
    title = "" if name == NAME else f" (`{name}`)"
    write_section(name, f"""
## Service latency{title}

`{p["command"]}` — `facever serve` (1 worker, auth off, SQLite in a temporary folder, `{p["index_kind"]}` FAISS
index) on 127.0.0.1, driven from the same machine by an async httpx load generator over real HTTP (multipart
uploads, 250x250 LFW JPEGs).

**Gallery: {g["index_faces"]:,} faces** in the service's index = {g["enrolled"]} LFW people enrolled through the
API (first image of the first LFW people with two or more images, in sorted order; {g["tried"]} tried, rejected:
{rejections}) + {g["distractors"]:,} distractors written into the database before the service started
({g["distractor_write_s"]} s, {DISTRACTOR_FACES} faces per distractor identity). The distractors are random unit
1024-D vectors stored under the active embedder's name: search cost depends on the number of faces, not their
values, so they are right for timing; being random, they hardly ever outscore a real face of a trained model,
so the top-1 figure below measures identification among the {g["enrolled"]} real people.

`/v1/verify` sends two images (both detected and embedded), cycling through {p["verify_pairs"]} alternating
same/different-person pairs; `/v1/identify` sends one probe (`top_k=5`), cycling through {acc["probes"]}
probes: the second image of each enrolled person, never itself enrolled. {p["requests"]} requests per row after
{WARMUP} warm-up requests per route; concurrency N keeps N requests in flight (N workers sharing one queue;
1 is sequential); req/s is requests over wall time; errors are non-200 answers and timeouts (excluded from the
percentiles).
**Identify top-1 correct: {acc["correct"]}/{acc["sent"]} probes sent ({acc["fraction"]})**, the first candidate
being the probe's identity; a probe without an answer counts as wrong.

Machine: {p["machine"]["cores"]} cores shared by client and service, FACEVER_THREADS={env["FACEVER_THREADS"]},
FACEVER_INDEX_THREADS={env["FACEVER_INDEX_THREADS"]} (0 = the runtime's default); service ready
{p["service_ready_s"]} s after start. 1-minute load average {p["load_avg_1m_before_after"][0]} before,
{p["load_avg_1m_before_after"][1]} after the whole run, and per row below — on a shared machine the numbers are
indicative only. {embedder}

| route | concurrency | p50 ms | p95 ms | p99 ms | req/s | errors | load 1m before → after |
|---|---|---|---|---|---|---|---|
{rows}
""")


def accuracy(top1: dict[int, bool], probes: list[Probe]) -> dict:
    correct = sum(top1.values())
    return {
        "probes": len(probes),
        "sent": len(top1),
        "correct": correct,
        "fraction": round(correct / len(top1), 4) if top1 else None,
        "wrong": [probes[i].name for i, ok in sorted(top1.items()) if not ok],
    }


# --- main ----------------------------------------------------------------------------------------------


def parse_args(settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200, help="LFW people enrolled through the API")
    parser.add_argument("--gallery-size", type=int, default=10_000, help="total faces, padded with distractors")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per route and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16], help="requests in flight")
    parser.add_argument("--embedder", default=settings.embedder, help="model folder (default: the service's)")
    parser.add_argument("--threads", type=int, default=settings.threads, help="FACEVER_THREADS (0 = default)")
    parser.add_argument("--index-threads", type=int, default=settings.index_threads,
                        help="FACEVER_INDEX_THREADS, FAISS OpenMP threads (0 = default)")
    parser.add_argument("--name", default=NAME, help="results/<name>.json and docs section <name> (variants)")
    args = parser.parse_args()
    if args.gallery_size < args.people:
        parser.error("--gallery-size counts every face, so it must be at least --people")
    return args


def main() -> None:
    settings = Settings()
    args = parse_args(settings)
    model_dir = settings.models_dir / args.embedder
    if not (model_dir / "model.onnx").exists():
        hint = " (make placeholder-model)" if args.embedder == PLACEHOLDER else ""
        raise SystemExit(f"{model_dir}/model.onnx is missing{hint}")
    dim = load_model_card(model_dir).embedding.dim
    distractors = args.gallery_size - args.people
    load_before = load1()

    with tempfile.TemporaryDirectory(prefix="facever-bench-") as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        write_s = pad_gallery(database_url, args.embedder, dim, distractors)
        env = {
            "FACEVER_AUTH": "off",
            "FACEVER_DATABASE_URL": database_url,
            "FACEVER_EMBEDDER": args.embedder,
            "FACEVER_THREADS": str(args.threads),
            "FACEVER_INDEX_THREADS": str(args.index_threads),
        }
        port = free_port()
        base, log = f"http://127.0.0.1:{port}", Path(tmp) / "service.log"
        proc = start_service(port, env, log)
        try:
            ready_s = wait_ready(proc, base, log)
            print(f"service ready on {base} after {ready_s:.1f} s")
            with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as client:
                people, probes, gallery = enrol(client, lfw_candidates(), args.people)
                gallery |= {"distractors": distractors, "distractor_write_s": round(write_s, 1),
                            "index_faces": index_size(client)}
            print(f"gallery: {gallery}")
            pairs = verify_pairs(people)
            routes, top1 = measure(base, request_builders(pairs, probes), probes, args)
        finally:
            stop_service(proc)

    payload = {
        "machine": machine(),
        "command": ("python benchmarks/service_latency.py " + shlex.join(sys.argv[1:])).strip(),
        "embedder": args.embedder,
        "service_env": {k: v for k, v in env.items() if k in ("FACEVER_THREADS", "FACEVER_INDEX_THREADS")},
        "index_kind": settings.index_kind,
        "gallery": gallery,
        "verify_pairs": len(pairs),
        "requests": args.requests,
        "service_ready_s": round(ready_s, 2),
        "load_avg_1m_before_after": [load_before, load1()],
        "identify_top1": accuracy(top1, probes),
        "routes": routes,
    }
    write_json(args.name, payload)
    render(args.name, payload)
    for route, results in routes.items():
        for r in results:
            print(f"/v1/{route} c={r['concurrency']}: p50 {r.get('p50_ms')} p95 {r.get('p95_ms')} p99 {r.get('p99_ms')}"
                  f" ms, {r['req_per_s']} req/s, errors {r['errors']}, load {r['load_avg_1m_before_after']}")
    acc = payload["identify_top1"]
    print(f"identify top-1 correct: {acc['correct']}/{acc['sent']} ({acc['fraction']})")
    print(f"see docs/benchmarks.md (section {args.name}) and benchmarks/results/{args.name}.json")


if __name__ == "__main__":
    main()
