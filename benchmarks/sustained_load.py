"""Sustained load: a mixed load of verify, identify, enrol and delete from locust (headless) for minutes on end,
against `facever serve --workers 4` on SQLite (`--setup workers`) or 3 `facever serve` replicas on one Postgres
database (`--setup replicas`, a private throwaway server).

Recorded: every request's outcome and per-route latency percentiles (locust's own statistics), each worker's
resident memory (RSS) every few seconds, and at the end every worker's gallery against SQL (nothing half-written
in SQL; each worker's index counts and identify scores equal what SQL's vectors give). Passing means no failed
request, no gallery problem, and no worker whose RSS grew by more than MEMORY_GROWTH_BOUND between the end of the
warm-up and the end of the run.

    python benchmarks/sustained_load.py --setup workers --minutes 10
    python benchmarks/sustained_load.py --setup replicas --minutes 10

Writes benchmarks/results/sustained_load_<setup>.json, docs/benchmarks/sustained_load_<setup>.png and the
setup's section of docs/reliability.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.gallery_consistency import index_counts, index_problems, sql_problems
from benchmarks.report import ROOT, load1, machine, save_plot, write_json
from benchmarks.scale_out import Server, replicas, running, service_env
from benchmarks.service_latency import REQUEST_TIMEOUT_S, free_port, lfw_candidates
from benchmarks.throwaway_postgres import ThrowawayPostgres
from service.config import Settings
from service.db.engine import make_engine
from service.vision.model_card import load_model_card
from training.doc_sections import replace_section

REPORT = ROOT / "docs" / "reliability.md"
ADMIN_KEY = "sustained-load-admin-key"
MIB = 1024 * 1024
MEMORY_GROWTH_BOUND = 64 * MIB  # per worker, from the end of the warm-up to the end of the run
WARM_UP_S = 60.0  # first allocations (ONNX Runtime arenas, caches) are not growth; capped at a fifth of the run
SAMPLE_EVERY_S = 5.0
MIX = {"verify": 35, "identify": 35, "enrol": 15, "delete": 15}
SYNC_INTERVAL_S = 0.5


@dataclass
class MemoryTrace:
    """RSS of each worker process (pid -> samples), sampled every SAMPLE_EVERY_S on the run's clock."""

    pids: list[int]
    times: list[float] = field(default_factory=list)
    rss: dict[int, list[int]] = field(default_factory=dict)

    def sample(self, clock: float) -> None:
        self.times.append(round(clock, 1))
        for pid in self.pids:
            self.rss.setdefault(pid, []).append(psutil.Process(pid).memory_info().rss)

    def growth(self, warm_up_s: float) -> dict[int, dict[str, int]]:
        """Per worker: RSS at the start, at the end of the warm-up, halfway from there to the end, at the end, and
        the largest sample (bytes). A leak grows as much in the second half as in the first; settling does not."""
        warm = next((i for i, t in enumerate(self.times) if t >= warm_up_s), 0)
        half = (self.times[warm] + self.times[-1]) / 2
        mid = next(i for i, t in enumerate(self.times) if t >= half)
        return {pid: {"start": rss[0], "warm": rss[warm], "mid": rss[mid], "end": rss[-1], "peak": max(rss)}
                for pid, rss in self.rss.items()}


@dataclass(frozen=True)
class RouteStats:
    name: str
    requests: int
    failures: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    per_s: float


@dataclass
class LoadResult:
    setup: str
    processes: int
    database: str
    seconds: float
    users: int
    seeded: int
    routes: list[RouteStats]
    failures: list[str]
    memory: dict[int, dict[str, int]]
    gallery: dict[str, int]
    worker_checks: int
    problems: list[str]

    @property
    def requests(self) -> int:
        return sum(route.requests for route in self.routes)

    @property
    def failed(self) -> int:
        return sum(route.failures for route in self.routes)


# --- the services -----------------------------------------------------------------------------------


def worker_pids(process: psutil.Process, expected: int, timeout_s: float = 60.0) -> list[int]:
    """The serving processes under `process`: itself if it serves alone, else its uvicorn workers."""
    if expected == 1:
        return [process.pid]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        workers = [child.pid for child in process.children() if "spawn_main" in " ".join(child.cmdline())]
        if len(workers) == expected:
            return sorted(workers)
        time.sleep(0.5)
    raise RuntimeError(f"expected {expected} uvicorn workers under pid {process.pid}")


@contextmanager
def database(setup: str, workdir: Path) -> Iterator[str]:
    if setup == "workers":
        yield f"sqlite:///{workdir / 'facever.db'}"
        return
    with ThrowawayPostgres() as server:
        yield server.url


def servers(setup: str, env: dict[str, str], workers: int, replica_count: int) -> list[Server]:
    if setup == "replicas":
        return replicas(replica_count, env)
    port = free_port()
    return [Server(["facever", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                   env, port)]


# --- before and after the load -------------------------------------------------------------------------


def seed(base: str, people: int) -> tuple[list[int], dict[int, bytes], list[str]]:
    """Enrol the first photo of `people` LFW people as identities of one face each. Returns the identity ids, a
    probe photo per identity (its enrolled photo) and the photos that enrolled: the load's photos."""
    identities, probes, photos = [], {}, []
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S, headers={"X-API-Key": ADMIN_KEY}) as client:
        for name, images in lfw_candidates()[:people]:
            identity_id = client.post("/v1/identities", json={"name": name}).raise_for_status().json()["id"]
            answer = client.post(f"/v1/identities/{identity_id}/faces",
                                 files={"images": ("face.jpg", images[0].read_bytes(), "image/jpeg")})
            if answer.status_code == 201:
                identities.append(identity_id)
                probes[identity_id] = images[0].read_bytes()
                photos.append(str(images[0]))
            else:
                client.delete(f"/v1/identities/{identity_id}").raise_for_status()
    return identities, probes, photos


def run_locust(hosts: list[str], photos: list[str], seeded: list[int], seconds: float, users: int,
               wait_s: tuple[float, float], workdir: Path) -> tuple[list[RouteStats], list[str]]:
    """locust, headless, for `seconds`; its per-route statistics and its failures (count, route, error)."""
    plan = workdir / "plan.json"
    plan.write_text(json.dumps({"hosts": hosts, "api_key": ADMIN_KEY, "photos": photos, "seeded": seeded,
                                "mix": MIX, "wait_s": wait_s}))
    prefix = workdir / "locust"
    command = [str(Path(sys.executable).parent / "locust"), "-f", str(ROOT / "benchmarks" / "sustained_load_users.py"),
               "--headless", "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds:.0f}s",
               "--stop-timeout", "60", "--host", hosts[0], "--csv", str(prefix), "--only-summary", "--loglevel",
               "WARNING"]
    env = {**_locust_env(), "FACEVER_LOAD_PLAN": str(plan)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + 300,
                          check=False)  # locust exits 1 when a request failed: its CSV says which
    stats_file = Path(f"{prefix}_stats.csv")
    if not stats_file.exists():
        raise RuntimeError(f"locust wrote no statistics (exit {done.returncode}):\n{done.stderr[-4000:]}")
    with stats_file.open(newline="") as f:
        routes = [_route(row) for row in csv.DictReader(f) if row["Name"] != "Aggregated"]
    with Path(f"{prefix}_failures.csv").open(newline="") as f:
        failures = [f"{row['Occurrences']} × {row['Name']}: {row['Error']}" for row in csv.DictReader(f)]
    return routes, failures


def _locust_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FACEVER_")}


def _route(row: dict[str, str]) -> RouteStats:
    return RouteStats(row["Name"], int(row["Request Count"]), int(row["Failure Count"]), float(row["50%"]),
                      float(row["99%"]), float(row["Max Response Time"]), round(float(row["Requests/s"]), 2))


def check_workers(base: str, pids: list[int], engine: Engine, embedder: str, dim: int, probes: dict[int, bytes]
                  ) -> list[str]:
    """Every worker behind `base` (its processes `pids`) against SQL. Which worker accepts a connection is the
    kernel's choice, and an idle one tends to take them all, so each worker is checked while the others are
    stopped (SIGSTOP; for less than uvicorn's 5 s health check): only it can accept the check's connection. A
    search skips its sync while another thread's runs, so a check that finds a problem is repeated once."""
    problems = []
    for pid in pids:
        others = [other for other in pids if other != pid]
        for other in others:
            os.kill(other, signal.SIGSTOP)
        try:
            with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S, headers={"X-API-Key": ADMIN_KEY}) as client:
                found = index_problems(client, engine, embedder, dim, probes)
                if found:
                    time.sleep(2 * SYNC_INTERVAL_S)
                    found = index_problems(client, engine, embedder, dim, probes)
                started = _process_start(client)
        finally:
            for other in others:
                os.kill(other, signal.SIGCONT)
        if abs(started - psutil.Process(pid).create_time()) > 1.0:
            found = [*found, f"the check reached the process started at {started}, not {pid}"]
        problems += [f"{base} worker {pid}: {problem}" for problem in found]
    return problems


def _process_start(client: httpx.Client) -> float:
    for line in client.get("/metrics").raise_for_status().text.splitlines():
        if line.startswith("process_start_time_seconds "):
            return float(line.split()[1])
    raise RuntimeError("/metrics has no process_start_time_seconds")


# --- the run ---------------------------------------------------------------------------------------------


def sustained_load(setup: str, settings: Settings, workdir: Path, *, seconds: float, users: int = 6,
                   workers: int = 4, replica_count: int = 3, people: int = 300,
                   wait_s: tuple[float, float] = (0.5, 1.0)) -> tuple[LoadResult, MemoryTrace]:
    """Seed a gallery, load the services for `seconds`, sample their workers' RSS, check them against SQL."""
    dim = load_model_card(settings.embedder_dir).embedding.dim
    processes = workers if setup == "workers" else replica_count
    with ExitStack() as stack:
        url = stack.enter_context(database(setup, workdir))
        env = service_env(url, settings.models_dir, settings.embedder, api_keys=f"admin:{ADMIN_KEY}",
                          metrics_auth="off", gallery_sync_interval=str(SYNC_INTERVAL_S), threads="1",
                          index_threads="1")
        subprocess.run(["facever", "db", "upgrade"], env=env, check=True, timeout=120, capture_output=True)
        started = servers(setup, env, workers, replica_count)
        bases = stack.enter_context(running(started, workdir))
        engine = make_engine(url)
        stack.callback(engine.dispose)
        seeded, probes, photos = seed(bases[0], people)
        serving = _serving_pids(bases, workers if setup == "workers" else 1)
        trace = MemoryTrace([pid for pids in serving.values() for pid in pids])
        stop, origin = threading.Event(), time.monotonic()
        sampler = threading.Thread(target=_sample_until, args=(trace, stop, origin), daemon=True)
        sampler.start()
        routes, failures = run_locust(bases, photos, seeded, seconds, users, wait_s, workdir)
        stop.set()
        sampler.join()
        trace.sample(time.monotonic() - origin)
        time.sleep(2 * SYNC_INTERVAL_S)
        problems = sql_problems(engine, settings.embedder, dim)
        few_probes = dict(list(probes.items())[:2])
        for base, pids in serving.items():
            problems += check_workers(base, pids, engine, settings.embedder, dim, few_probes)
        checked = len(trace.pids)
        with httpx.Client(base_url=bases[0], timeout=REQUEST_TIMEOUT_S) as client:
            gallery = index_counts(client)
    warm_up = min(WARM_UP_S, seconds / 5)
    memory = trace.growth(warm_up)
    problems += [f"worker {pid}: RSS grew {(m['end'] - m['warm']) / MIB:.1f} MiB after the warm-up, more than "
                 f"{MEMORY_GROWTH_BOUND / MIB:.0f} MiB" for pid, m in memory.items()
                 if m["end"] - m["warm"] > MEMORY_GROWTH_BOUND]
    database_name = "SQLite" if setup == "workers" else "Postgres"
    return LoadResult(setup, processes, database_name, seconds, users, len(seeded), routes, failures, memory, gallery,
                      checked, problems), trace


def _serving_pids(bases: list[str], workers_per_base: int) -> dict[str, list[int]]:
    """The pids serving each base URL: the `facever serve` this process started on its port, or its workers."""
    pids = {}
    for base in bases:
        port_arg = ["--port", base.rsplit(":", 1)[1]]
        serve = next(child for child in psutil.Process().children()
                     if any(child.cmdline()[i:i + 2] == port_arg for i in range(len(child.cmdline()))))
        pids[base] = worker_pids(serve, workers_per_base)
    return pids


def _sample_until(trace: MemoryTrace, stop: threading.Event, origin: float) -> None:
    while not stop.is_set():
        trace.sample(time.monotonic() - origin)
        stop.wait(SAMPLE_EVERY_S)


# --- report ----------------------------------------------------------------------------------------------


def plot(result: LoadResult, trace: MemoryTrace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    for number, (pid, rss) in enumerate(trace.rss.items()):
        ax.plot([t / 60 for t in trace.times], [r / MIB for r in rss], label=f"process {number + 1}")
    ax.set_xlabel("minutes under load")
    ax.set_ylabel("resident memory (MiB)")
    ax.set_title(f"{result.processes} {result.setup} on {result.database}: RSS under sustained load")
    ax.legend(fontsize=8)
    save_plot(fig, path)
    plt.close(fig)


def section(result: LoadResult, command: str, cores: int) -> str:
    rows = "\n".join(f"| {r.name} | {r.requests} | {r.failures} | {r.p50_ms:.0f} | {r.p99_ms:.0f} | {r.max_ms:.0f} | "
                     f"{r.per_s:.2f} |" for r in sorted(result.routes, key=lambda r: r.name))
    memory = "\n".join(f"| {n + 1} | {m['start'] / MIB:.0f} | {m['warm'] / MIB:.0f} | {m['mid'] / MIB:.0f} | "
                       f"{m['end'] / MIB:.0f} | {m['peak'] / MIB:.0f} | {(m['end'] - m['warm']) / MIB:+.1f} | "
                       f"{(m['mid'] - m['warm']) / MIB:+.1f} / {(m['end'] - m['mid']) / MIB:+.1f} |"
                       for n, m in enumerate(result.memory.values()))
    what = (f"`facever serve --workers {result.processes}` on SQLite" if result.setup == "workers"
            else f"{result.processes} `facever serve` replicas on one Postgres database")
    verdict = "none" if not result.problems else "; ".join(result.problems[:10])
    failures = "none" if not result.failures else "; ".join(result.failures[:10])
    return f"""
## Sustained load: {what}

Command: `{command}`{" (the replicas run on a private Postgres server the script starts: it needs the Postgres server programs, e.g. Debian's `postgresql`)" if result.setup == "replicas" else ""}.

locust, headless, {result.users} users for {result.seconds:.0f} s, on {cores} cores shared by the services and the load
generator. Each user sends all its requests to one service (picked at random among the replicas), each on a new
connection as from many clients, and waits 0.5–1 s between tasks. A gallery of {result.seeded} LFW identities (one photo
each) is seeded first. Tasks: verify {MIX['verify']} % (half photo against photo, half photo against an identity),
identify {MIX['identify']} %, enrol {MIX['enrol']} % (two requests: create identity, enrol face), delete {MIX['delete']} % (an
identity the load enrolled). One ONNX Runtime thread per process. Latencies are locust's; it rounds percentiles
to two significant figures, so a p99 can read a little above the max.

**{result.requests} requests, {result.failed} failed** (failures: {failures}).

| route | requests | failed | p50 ms | p99 ms | max ms | per s |
|---|---|---|---|---|---|---|
{rows}

Resident memory (RSS) of each serving process, sampled every {SAMPLE_EVERY_S:.0f} s, in MiB: at the start of the load,
after the warm-up (a fifth of the run, at most {WARM_UP_S:.0f} s: ONNX Runtime's arenas and the allocator's pools fill
then), halfway from there to the end, at the end, the largest sample, the growth after the warm-up, and that growth
split into halves. The bound on growth after the warm-up, {MEMORY_GROWTH_BOUND / MIB:.0f} MiB, is a fifth of a warm
worker; a leak also shows as a second half growing as much as the first, memory that settles grows less in the
second. A run this long says nothing about days: `--minutes` sets a longer soak.

| process | start | warm | mid | end | peak | growth | 1st / 2nd half |
|---|---|---|---|---|---|---|---|
{memory}

![RSS over time](benchmarks/sustained_load_{result.setup}.png)

At the end: {result.worker_checks} processes checked against SQL (index counts, identify scores from SQL's
vectors), gallery {result.gallery['identities']} identities with {result.gallery['faces']} faces; problems:
**{verdict}**.
"""


def load_result(payload: dict) -> LoadResult:
    """A LoadResult from its JSON (as main writes it)."""
    fields = {name: payload[name] for name in LoadResult.__dataclass_fields__}
    fields["routes"] = [RouteStats(**route) for route in payload["routes"]]
    fields["memory"] = {int(pid): values for pid, values in payload["memory"].items()}
    return LoadResult(**fields)


def run_command(setup: str, minutes: float, users: int) -> str:
    return f"python benchmarks/sustained_load.py --setup {setup} --minutes {minutes:g} --users {users}"


def git_commit() -> str | None:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=False, capture_output=True, text=True)
    return done.stdout.strip() or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "),
                                     epilog="Run from the repository root with the virtualenv active.")
    parser.add_argument("--setup", choices=["workers", "replicas"], default="workers",
                        help="4 uvicorn workers on SQLite, or 3 replicas on one (private) Postgres server")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the load (default 10)")
    parser.add_argument("--users", type=int, default=6, help="locust users (default 6)")
    parser.add_argument("--results", type=Path, help="the JSON to write (default benchmarks/results/"
                        "sustained_load_SETUP.json)")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/reliability.md and its figure alone")
    parser.add_argument("--render", type=Path, metavar="JSON", help="run nothing: rewrite the setup's section of "
                        "docs/reliability.md from a results JSON")
    args = parser.parse_args()
    name = f"sustained_load_{args.setup}"
    if args.render:
        payload = json.loads(args.render.read_text())
        result = load_result(payload)
        command = run_command(result.setup, result.seconds / 60, result.users)
        replace_section(REPORT, name, section(result, command, payload["machine"]["cores"]), "# Reliability\n")
        print(f"wrote the {name} section of {REPORT}")
        return
    command = run_command(args.setup, args.minutes, args.users)
    started, load_before = datetime.now(UTC).isoformat(timespec="seconds"), load1()
    with tempfile.TemporaryDirectory() as workdir:
        result, trace = sustained_load(args.setup, Settings(), Path(workdir), seconds=60 * args.minutes,
                                       users=args.users)
    info = machine()
    payload = {"machine": info, "started": started, "commit": git_commit(),
               "load1": {"before": load_before, "after": load1()}, **asdict(result),
               "trace": {"seconds": trace.times, "rss": {str(pid): rss for pid, rss in trace.rss.items()}}}
    written = [write_json(name, payload) if args.results is None else _write(args.results, payload)]
    if not args.no_docs:
        figure = ROOT / "docs" / "benchmarks" / f"{name}.png"
        plot(result, trace, figure)
        replace_section(REPORT, name, section(result, command, info["cores"]), "# Reliability\n")
        written += [figure, REPORT]
    for route in sorted(result.routes, key=lambda r: r.name):
        print(f"{route.name:24} {route.requests:6} requests {route.failures:4} failed  p50 {route.p50_ms:5.0f} ms  "
              f"p99 {route.p99_ms:5.0f} ms")
    print(f"{result.requests} requests, {result.failed} failed, {len(result.problems)} problems")
    for problem in result.problems:
        print(f"  {problem}")
    print("wrote " + ", ".join(str(path) for path in written))
    sys.exit(1 if result.failed or result.problems else 0)


def _write(path: Path, payload: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


if __name__ == "__main__":
    main()
