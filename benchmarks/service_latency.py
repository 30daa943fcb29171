"""End-to-end latency of /v1/verify and /v1/identify over real HTTP, the service running as a user runs it.

Starts `facever serve` on a free port (auth off, a fresh SQLite database in a temporary folder), enrols a
gallery of LFW people, then times sequential requests (concurrency 1) and, optionally, N in flight.

Usage: python benchmarks/service_latency.py [--people 200] [--requests 200] [--embedder resnet20-random]
                                            [--concurrency 1 4] [--threads 0]
Writes benchmarks/results/service_latency.json and its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import ROOT, machine, percentiles, write_json, write_section

LFW_DIR = ROOT.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"
READY_TIMEOUT_S = 120.0  # model loading + migration of a fresh SQLite database
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 60.0
WARMUP = 3  # requests per route before timing: first ONNX Runtime runs allocate


# --- data -------------------------------------------------------------------------------------------


def lfw_people(count: int) -> list[tuple[str, list[Path]]]:
    """The first `count` LFW people folders in sorted order, with their images (sorted)."""
    people = sorted(p for p in LFW_DIR.iterdir() if p.is_dir())[:count]
    return [(person.name, sorted(person.glob("*.jpg"))) for person in people]


def verify_pairs(people: list[tuple[str, list[Path]]]) -> list[tuple[bytes, bytes]]:
    """Alternating same-person pairs (image 1 vs 2 of a person who has two) and different-person pairs."""
    same = [(images[0], images[1]) for _, images in people if len(images) >= 2]
    diff = [(people[i][1][0], people[i + 1][1][0]) for i in range(len(people) - 1)]
    pairs = [p for both in zip(same, diff) for p in both] or diff or same
    if not pairs:
        raise SystemExit("need at least two LFW people for verify pairs")
    return [(a.read_bytes(), b.read_bytes()) for a, b in pairs]


def identify_probes(people: list[tuple[str, list[Path]]]) -> list[bytes]:
    """A second (not enrolled) image where the person has one, else the enrolled image itself."""
    return [(images[1] if len(images) >= 2 else images[0]).read_bytes() for _, images in people]


# --- the service ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(port: int, embedder: str, threads: int, workdir: Path) -> tuple[subprocess.Popen, Path]:
    facever = shutil.which("facever") or str(Path(sys.executable).parent / "facever")
    env = os.environ | {
        "FACEVER_AUTH": "off",
        "FACEVER_DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "FACEVER_EMBEDDER": embedder,
        "FACEVER_THREADS": str(threads),
    }
    log = workdir / "service.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [facever, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log


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


# --- enrolment ---------------------------------------------------------------------------------------


def enrol(client: httpx.Client, people: list[tuple[str, list[Path]]]) -> dict:
    """One identity per person with its first image; rejections counted by reason."""
    reasons: Counter[str] = Counter()
    enrolled = 0
    for name, images in tqdm(people, desc="enrol", unit="person"):
        created = client.post("/v1/identities", json={"name": name.replace("_", " "), "external_id": name})
        created.raise_for_status()
        identity_id = created.json()["id"]
        image = images[0]
        answer = client.post(
            f"/v1/identities/{identity_id}/faces", files=[("images", (image.name, image.read_bytes(), "image/jpeg"))]
        )
        if answer.status_code == 201:
            enrolled += answer.json()["enrolled"]
            reasons.update(r["reason"] for r in answer.json()["results"] if r["status"] == "rejected")
        elif 400 <= answer.status_code < 500:
            reasons[answer.json()["error"]["code"]] += 1
        else:
            answer.raise_for_status()
    return {"people": len(people), "enrolled": enrolled, "rejected": sum(reasons.values()), "rejections": dict(reasons)}


# --- timed requests -----------------------------------------------------------------------------------


def request_builders(pairs: list[tuple[bytes, bytes]], probes: list[bytes]) -> dict:
    """route -> function(i) giving the i-th request's (path, files, data), cycling through the inputs."""

    def verify(i: int):
        a, b = pairs[i % len(pairs)]
        return "/v1/verify", {"image_a": ("a.jpg", a, "image/jpeg"), "image_b": ("b.jpg", b, "image/jpeg")}, {}

    def identify(i: int):
        return "/v1/identify", {"image": ("probe.jpg", probes[i % len(probes)], "image/jpeg")}, {"top_k": "5"}

    return {"verify": verify, "identify": identify}


def run_sequential(client: httpx.Client, build, count: int, label: str) -> tuple[list[float], Counter, float]:
    latencies, errors = [], Counter()
    t_start = time.perf_counter()
    for i in tqdm(range(count), desc=label, unit="req"):
        path, files, data = build(i)
        t0 = time.perf_counter()
        answer = client.post(path, files=files, data=data)
        elapsed = time.perf_counter() - t0
        if answer.status_code == 200:
            latencies.append(elapsed)
        else:
            errors[_code(answer)] += 1
    return latencies, errors, time.perf_counter() - t_start


async def run_concurrent(base: str, build, count: int, concurrency: int, label: str):
    latencies, errors = [], Counter()
    next_index = iter(range(count))
    bar = tqdm(total=count, desc=label, unit="req")
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:

        async def worker() -> None:
            for i in next_index:  # shared iterator: each index handed out once
                path, files, data = build(i)
                t0 = time.perf_counter()
                answer = await client.post(path, files=files, data=data)
                elapsed = time.perf_counter() - t0
                if answer.status_code == 200:
                    latencies.append(elapsed)
                else:
                    errors[_code(answer)] += 1
                bar.update()

        t_start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t_start
    bar.close()
    return latencies, errors, wall


def _code(answer: httpx.Response) -> str:
    try:
        return answer.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):  # not the error envelope
        return f"http_{answer.status_code}"


def summarise(latencies: list[float], errors: Counter, wall: float, concurrency: int, count: int) -> dict:
    stats = percentiles(latencies) if latencies else {"n": 0}
    return stats | {
        "concurrency": concurrency,
        "requests": count,
        "errors": dict(errors),
        "wall_s": round(wall, 3),
        "req_per_s": round(count / wall, 2) if wall > 0 else None,
    }


# --- main ----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200, help="gallery size: the first N LFW people")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per route and concurrency")
    parser.add_argument("--embedder", default="resnet20-random", help="model folder under models/")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1], help="in-flight requests, e.g. 1 4")
    parser.add_argument("--threads", type=int, default=0, help="FACEVER_THREADS for the service (0 = default)")
    args = parser.parse_args()

    if not (ROOT / "models" / args.embedder / "model.onnx").exists():
        hint = " (make placeholder-model)" if args.embedder == "resnet20-random" else ""
        raise SystemExit(f"models/{args.embedder}/model.onnx is missing{hint}")
    people = lfw_people(args.people)
    pairs, probes = verify_pairs(people), identify_probes(people)
    builders = request_builders(pairs, probes)
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="facever-bench-") as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc, log = start_service(port, args.embedder, args.threads, Path(tmp))
        try:
            ready_s = wait_ready(proc, base, log)
            print(f"service ready on {base} after {ready_s:.1f} s")
            with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as client:
                gallery = enrol(client, people)
                print(f"gallery: {gallery}")
                for route, build in builders.items():  # warm-up, not timed
                    run_sequential(client, build, WARMUP, f"warm-up {route}")
                routes: dict[str, list[dict]] = {route: [] for route in builders}
                for concurrency in args.concurrency:
                    for route, build in builders.items():
                        label = f"{route} c={concurrency}"
                        if concurrency == 1:
                            result = run_sequential(client, build, args.requests, label)
                        else:
                            result = asyncio.run(run_concurrent(base, build, args.requests, concurrency, label))
                        routes[route].append(summarise(*result, concurrency, args.requests))
        finally:
            stop_service(proc)

    command = "python benchmarks/service_latency.py " + shlex.join(sys.argv[1:])
    load_after = os.getloadavg()
    write_json(
        "service_latency",
        {
            "machine": machine(),
            "command": command.strip(),
            "embedder": args.embedder,
            "threads": args.threads,
            "gallery": gallery,
            "verify_pairs": len(pairs),
            "identify_probes": len(probes),
            "service_ready_s": round(ready_s, 2),
            "load_average_1m": [load_before[0], load_after[0]],
            "routes": routes,
        },
    )

    rows = []
    for route, results in routes.items():
        for r in results:
            errors = sum(r["errors"].values())
            rows.append(
                f"| /v1/{route} | {r['concurrency']} | {r.get('p50_ms', '-')} | {r.get('p95_ms', '-')} "
                f"| {r.get('p99_ms', '-')} | {r['req_per_s']} | {errors} |"
            )
    random_note = (
        "The embedder is the random-init placeholder: its similarities (and so verify/identify answers) are "
        "meaningless, but it is the real ResNet20 graph, so its speed is that of the real model."
        if args.embedder == "resnet20-random"
        else f"Embedder `{args.embedder}`."
    )
    rejections = ", ".join(f"{k}: {v}" for k, v in gallery["rejections"].items()) or "none"
    write_section(
        "service_latency",
        f"""## Service latency

`{command.strip()}` — `facever serve` (1 worker, auth off, SQLite in a temporary folder, flat FAISS index)
on 127.0.0.1, timed from the client with httpx over real HTTP (multipart uploads, 250x250 LFW JPEGs).
Gallery: {gallery["enrolled"]} faces enrolled out of {gallery["people"]} LFW people (first image of the first
people in sorted order; rejected: {rejections}). `/v1/verify` sends two images (both detected and embedded),
cycling through {len(pairs)} same/different-person pairs; `/v1/identify` sends one probe with `top_k=5`.
{args.requests} requests per row after {WARMUP} warm-up requests; concurrency 1 is sequential, higher
concurrency keeps N requests in flight (httpx.AsyncClient); req/s is requests over wall time; errors are
non-200 answers (excluded from the percentiles). Machine: {machine()["cores"]} cores, client and service on
the same machine, ONNX Runtime threads: {args.threads or "default"}; 1-minute load average
{load_before[0]:.2f} before, {load_after[0]:.2f} after — on a shared machine the numbers are indicative only.
{random_note}

| route | concurrency | p50 ms | p95 ms | p99 ms | req/s | errors |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}
""",
    )
    for route, results in routes.items():
        for r in results:
            print(
                f"/v1/{route} c={r['concurrency']}: p50 {r.get('p50_ms')} p95 {r.get('p95_ms')} "
                f"p99 {r.get('p99_ms')} ms, {r['req_per_s']} req/s, errors {r['errors']}"
            )
    print("see docs/benchmarks.md and benchmarks/results/service_latency.json")


if __name__ == "__main__":
    main()
