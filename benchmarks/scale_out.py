"""Scale-out: N `facever serve` replicas on one Postgres database stay consistent under enrol, delete, identify.

Each client thread sends a random mix of operations to random replicas, bounded in count and time. During
the load, an identify must never return an identity whose delete was acknowledged before it was sent. After
it, every replica must identify every live enrolled image as its own identity (same image: similarity ~1),
and SQL must hold exactly the acknowledged enrolments: nothing acknowledged lost, nothing deleted kept.
Each identity is enrolled with its own LFW image, so same-image queries are reliable even with the random
placeholder embedder. tests/deploy runs the short version.

Usage: python benchmarks/scale_out.py [--replicas 3] [--seconds 180] [--max-ops 5000] [--clients 3]
Needs Postgres (FACEVER_TEST_DATABASE_URL, default 127.0.0.1:5432/test) and models/<embedder>/.
Writes benchmarks/results/scale_out.json and its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import ROOT, machine, write_json, write_section
from benchmarks.service_latency import REQUEST_TIMEOUT_S, free_port, lfw_candidates, stop_service, wait_ready

SAME_IMAGE_SIMILARITY = 0.999  # the same image through the same model: 1 up to float rounding
MIX = {"enrol": 0.45, "identify": 0.4, "delete": 0.15}


# --- servers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """A command that serves HTTP on 127.0.0.1:`port` once started with `env`."""

    command: list[str]
    env: dict[str, str]
    port: int


def service_env(database_url: str, models_dir: Path, embedder: str, **extra: str) -> dict[str, str]:
    """This process's environment without FACEVER_* settings, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEVER_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the venv's `facever`
    settings = {"DATABASE_URL": database_url, "MODELS_DIR": str(models_dir), "EMBEDDER": embedder, **extra}
    return env | {f"FACEVER_{key.upper()}": value for key, value in settings.items()}


@contextmanager
def running(servers: list[Server], workdir: Path) -> Iterator[list[str]]:
    """Start every server, wait until all are ready, yield their base URLs; always stop them."""
    started: list[subprocess.Popen] = []
    try:
        logs = []
        for number, server in enumerate(servers):
            logs.append(workdir / f"server{number}.log")
            with logs[-1].open("wb") as out:
                started.append(subprocess.Popen(server.command, env=server.env, cwd=ROOT, stdout=out,
                                                stderr=subprocess.STDOUT))
        bases = [f"http://127.0.0.1:{server.port}" for server in servers]
        for proc, base, log in zip(started, bases, logs, strict=True):
            wait_ready(proc, base, log)
        yield bases
    finally:
        for proc in started:
            stop_service(proc)


def replicas(count: int, env: dict[str, str]) -> list[Server]:
    ports = set()
    while len(ports) < count:  # distinct even if the OS hands a port back twice
        ports.add(free_port())
    return [Server(["facever", "serve", "--host", "127.0.0.1", "--port", str(port)], env, port) for port in ports]


# --- load -------------------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the clients were told, shared by the client threads under `lock`."""

    images: list[bytes]
    unused: list[int]  # images not enrolled yet: each identity gets its own
    live: dict[int, int] = field(default_factory=dict)  # identity id -> image number, enrolment acknowledged
    faces: dict[int, set[int]] = field(default_factory=dict)  # identity id -> acknowledged face ids
    deleted: dict[int, int] = field(default_factory=dict)  # identity id -> image number, delete acknowledged
    counts: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _enrol(client: httpx.Client, ledger: Ledger, rng: random.Random) -> str:
    with ledger.lock:
        if not ledger.unused:
            return "enrol skipped (no unused image)"
        image = ledger.unused.pop(rng.randrange(len(ledger.unused)))
    identity = client.post("/v1/identities", json={"name": f"person {image}"})
    if identity.status_code != 201:
        return f"create identity {identity.status_code}"
    identity_id = identity.json()["id"]
    answer = client.post(f"/v1/identities/{identity_id}/faces",
                         files={"images": ("face.jpg", ledger.images[image], "image/jpeg")})
    if answer.status_code == 201:
        face_ids = {item["face_id"] for item in answer.json()["results"] if item["status"] == "enrolled"}
        with ledger.lock:
            ledger.live[identity_id], ledger.faces[identity_id] = image, face_ids
    return f"enrol {answer.status_code}"


def _delete(client: httpx.Client, ledger: Ledger, rng: random.Random) -> str:
    with ledger.lock:
        if not ledger.live:
            return "delete skipped (none live)"
        identity_id = rng.choice(list(ledger.live))
        image = ledger.live.pop(identity_id)  # no longer expected to be found, whatever the answer
    answer = client.delete(f"/v1/identities/{identity_id}")
    if answer.status_code == 204:
        with ledger.lock:
            ledger.deleted[identity_id] = image
    return f"delete {answer.status_code}"


def _identify(client: httpx.Client, ledger: Ledger, rng: random.Random) -> str:
    with ledger.lock:
        known = list(ledger.live.values()) + list(ledger.deleted.values())
        gone = set(ledger.deleted)  # deletes acknowledged before this request is sent
    if not known:
        return "identify skipped (empty gallery)"
    answer = client.post("/v1/identify", files={"image": ("q.jpg", ledger.images[rng.choice(known)], "image/jpeg")},
                         data={"top_k": "10"})
    if answer.status_code == 200:
        returned = {c["identity"]["id"] for c in answer.json()["candidates"]} & gone
        if returned:
            with ledger.lock:
                ledger.violations.append(f"{client.base_url} returned deleted identities {sorted(returned)}")
    return f"identify {answer.status_code}"


OPERATIONS = {"enrol": _enrol, "identify": _identify, "delete": _delete}


def _client_loop(bases: list[str], ledger: Ledger, seed: int, deadline: float, budget: threading.Semaphore) -> None:
    rng = random.Random(seed)
    clients = [httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) for base in bases]
    try:
        while time.monotonic() < deadline and budget.acquire(blocking=False):
            client = rng.choice(clients)
            operation = rng.choices(list(MIX), weights=list(MIX.values()))[0]
            try:
                outcome = OPERATIONS[operation](client, ledger, rng)
            except httpx.TransportError as error:
                outcome = f"{operation} transport error"
                with ledger.lock:
                    ledger.violations.append(f"{client.base_url} {operation}: {error!r}")
            with ledger.lock:
                ledger.counts[outcome] += 1
                if outcome.split()[-1].startswith("5"):
                    ledger.violations.append(f"{client.base_url} {outcome}")
    finally:
        for client in clients:
            client.close()


def run_load(bases: list[str], images: list[bytes], seconds: float, max_ops: int, clients: int,
             seed: int = 0) -> Ledger:
    """Mixed load from `clients` threads until `seconds` pass or `max_ops` operations are sent."""
    ledger = Ledger(images=images, unused=list(range(len(images))))
    deadline, budget = time.monotonic() + seconds, threading.Semaphore(max_ops)
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(_client_loop, bases, ledger, seed + n, deadline, budget) for n in range(clients)]:
            future.result()
    return ledger


# --- consistency ------------------------------------------------------------------------------------


def check_replica(base: str, ledger: Ledger) -> list[str]:
    """Every live identity found as itself from its own image; no deleted identity returned."""
    problems = []
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as client:
        for identity_id, image in sorted(ledger.live.items()):
            answer = client.post("/v1/identify", files={"image": ("q.jpg", ledger.images[image], "image/jpeg")},
                                 data={"top_k": "10"})
            if answer.status_code != 200:
                problems.append(f"{base} identify {identity_id}: {answer.status_code}")
                continue
            candidates = answer.json()["candidates"]
            top = candidates[0] if candidates else None
            if top is None or top["identity"]["id"] != identity_id or top["similarity"] < SAME_IMAGE_SIMILARITY:
                problems.append(f"{base} identity {identity_id}: top candidate {top}")
            returned = {c["identity"]["id"] for c in candidates} & set(ledger.deleted)
            if returned:
                problems.append(f"{base} returned deleted identities {sorted(returned)}")
    return problems


def check_sql(database_url: str, ledger: Ledger) -> list[str]:
    """SQL holds exactly the acknowledged faces of live identities."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, identity_id FROM faces")).all()
    finally:
        engine.dispose()
    stored = {(face_id, identity_id) for face_id, identity_id in rows}
    acknowledged = {(face_id, identity_id) for identity_id in ledger.live for face_id in ledger.faces[identity_id]}
    problems = [f"acknowledged face {face} (id, identity) missing from SQL" for face in acknowledged - stored]
    problems += [f"SQL face {face} (id, identity) not acknowledged or deleted" for face in stored - acknowledged]
    return problems


def check_consistency(bases: list[str], database_url: str, ledger: Ledger, sync_interval: float) -> list[str]:
    time.sleep(2 * sync_interval)  # replicas poll the change log at most this often before a search
    with ThreadPoolExecutor(len(bases)) as pool:
        per_replica = list(pool.map(lambda base: check_replica(base, ledger), bases))
    return [problem for problems in per_replica for problem in problems] + check_sql(database_url, ledger)


@dataclass(frozen=True)
class ScaleOutResult:
    replicas: int
    seconds: float
    operations: int
    counts: dict[str, int]
    live_identities: int
    deleted_identities: int
    replica_checks: int
    violations: list[str]


def scale_out(database_url: str, models_dir: Path, embedder: str, images: list[bytes], *, replica_count: int,
              seconds: float, max_ops: int, clients: int, workdir: Path, sync_interval: float = 0.5
              ) -> ScaleOutResult:
    """Start the replicas, load them, check them against SQL, stop them."""
    env = service_env(database_url, models_dir, embedder, auth="off", threads="1", index_threads="1",
                      gallery_sync_interval=str(sync_interval))
    subprocess.run(["facever", "db", "upgrade"], env=env, check=True, timeout=120, capture_output=True)
    with running(replicas(replica_count, env), workdir) as bases:
        t0 = time.monotonic()
        ledger = run_load(bases, images, seconds, max_ops, clients)
        elapsed = time.monotonic() - t0
        violations = ledger.violations + check_consistency(bases, database_url, ledger, sync_interval)
    return ScaleOutResult(replica_count, round(elapsed, 1), sum(ledger.counts.values()), dict(ledger.counts),
                          len(ledger.live), len(ledger.deleted), replica_count * len(ledger.live), violations)


def lfw_images(count: int) -> list[bytes]:
    """The first image of each of the first `count` LFW people with two or more images: one photo per identity."""
    return [images[0].read_bytes() for _, images in lfw_candidates()[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--max-ops", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--people", type=int, default=1500, help="distinct LFW images available to enrol")
    parser.add_argument("--embedder", default="resnet20-random")
    args = parser.parse_args()

    from tests.service.db.databases import postgres_schema

    with postgres_schema("facever_scale_out") as url, tempfile.TemporaryDirectory() as workdir:
        result = scale_out(url, ROOT / "models", args.embedder, lfw_images(args.people), replica_count=args.replicas,
                           seconds=args.seconds, max_ops=args.max_ops, clients=args.clients, workdir=Path(workdir))
    payload = {"machine": machine(), "embedder": args.embedder, "clients": args.clients, **vars(result)}
    write_json("scale_out", payload)
    counts = "\n".join(f"| {outcome} | {count} |" for outcome, count in sorted(result.counts.items()))
    verdict = "none" if not result.violations else "; ".join(result.violations[:10])
    write_section("scale_out", f"""
## Scale-out consistency (`benchmarks/scale_out.py`)

{result.replicas} `facever serve` replicas on one Postgres database, {args.clients} client threads sending a random
mix of enrol / identify / delete to random replicas for {result.seconds} s ({result.operations} operations,
embedder `{args.embedder}`, one ONNX Runtime thread per replica, {payload['machine']['cores']} cores).
Afterwards each replica identified each of the {result.live_identities} live identities from its own image
({result.replica_checks} checks) and SQL was compared with the acknowledged enrolments
({result.deleted_identities} identities deleted).

| outcome (HTTP status) | count |
|---|---|
{counts}

Violations (lost acknowledged enrolment, deleted identity returned, replica disagreeing with SQL, 5xx): **{verdict}**.
""")
    print(f"{result.operations} operations, {len(result.violations)} violations")
    sys.exit(1 if result.violations else 0)


if __name__ == "__main__":
    main()
