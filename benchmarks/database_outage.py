"""Database outages: Postgres stopped and started again under light load on two replicas, and SQLite's file
made read-only or its disk full; each request's answer, readiness and time to recover are recorded.

Postgres is a private server in a temporary folder (benchmarks.throwaway_postgres), never a shared one. SQLite's
faults need a small tmpfs (mount, so root or CAP_SYS_ADMIN): remounted read-only, or filled up.

    nice -n 19 python benchmarks/database_outage.py --outage-s 10
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import Engine

from benchmarks.gallery_consistency import index_problems, read_state, sql_problems
from benchmarks.report import ROOT, load1, machine, write_json
from benchmarks.service_latency import free_port, lfw_candidates, start_service, stop_service, wait_ready
from benchmarks.throwaway_postgres import ThrowawayPostgres
from service.config import Settings
from service.db.engine import make_engine
from service.db.migrate import upgrade
from service.vision.model_card import load_model_card
from training.doc_sections import replace_section

NAME = "database_outage"
REPORT = ROOT / "docs" / "reliability.md"
ADMIN_KEY = "database-outage-admin-key"
REQUEST_TIMEOUT_S = 60.0  # longer than any answer may take: reaching it is a hang
PAUSE_S = 0.1  # between one load thread's requests: light load
RECOVERY_DEADLINE_S = 120.0


@dataclass(frozen=True)
class Answer:
    replica: int
    route: str
    start: float  # seconds on the run's clock
    end: float
    status: int  # 0: no answer (timeout or connection error)
    code: str | None


@dataclass
class Record:
    """Every answer, readiness over time, and the faces whose enrolment was acknowledged."""

    answers: list[Answer] = field(default_factory=list)
    ready: list[tuple[int, float, int]] = field(default_factory=list)  # replica, time, status
    enrolled: dict[int, tuple[int, str]] = field(default_factory=dict)  # face id -> identity id, sha256
    photos: dict[str, bytes] = field(default_factory=dict)  # sha256 -> photo
    lock: threading.Lock = field(default_factory=threading.Lock)


class Replica:
    """One `facever serve` process on the shared database."""

    def __init__(self, index: int, env: dict[str, str], workdir: Path) -> None:
        self.index, self.port = index, free_port()
        self.base, self.log = f"http://127.0.0.1:{self.port}", workdir / f"replica-{index}.log"
        self.process = start_service(self.port, env, self.log)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"X-API-Key": ADMIN_KEY}, timeout=REQUEST_TIMEOUT_S)


class Load(threading.Thread):
    """Light load on one replica: enrol a photo, identify a photo, list identities, over and over."""

    def __init__(self, replica: Replica, identities: list[tuple[int, list[Path]]], probe: bytes, record: Record,
                 clock: Callable[[], float], stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.replica, self.identities, self.probe = replica, identities, probe
        self.record, self.clock, self.stop = record, clock, stop

    def run(self) -> None:
        with self.replica.client() as client:
            turn = 0
            while not self.stop.is_set():
                identity_id, photos = self.identities[turn % len(self.identities)]
                if photos:
                    self._enrol(client, identity_id, photos)
                self._call(client, "identify", "POST", "/v1/identify",
                           files={"image": ("probe.jpg", self.probe, "image/jpeg")})
                self._call(client, "list", "GET", "/v1/identities")
                turn += 1
                time.sleep(PAUSE_S)

    def _enrol(self, client: httpx.Client, identity_id: int, photos: list[Path]) -> None:
        photo = photos[0].read_bytes()
        response = self._call(client, "enrol", "POST", f"/v1/identities/{identity_id}/faces",
                              files={"images": ("p.jpg", photo, "image/jpeg")})
        if response is not None and response.status_code == 201:
            sha = hashlib.sha256(photo).hexdigest()
            with self.record.lock:
                self.record.enrolled[response.json()["results"][0]["face_id"]] = (identity_id, sha)
                self.record.photos[sha] = photo
        if response is not None and response.status_code != 503:  # a refused photo is not tried again
            photos.pop(0)

    def _call(self, client: httpx.Client, route: str, method: str, path: str, **kwargs) -> httpx.Response | None:
        start = self.clock()
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TransportError:
            response = None
        code = None
        if response is not None and response.status_code >= 400:
            code = response.json().get("error", {}).get("code")
        with self.record.lock:
            self.record.answers.append(Answer(self.replica.index, route, start, self.clock(),
                                              response.status_code if response is not None else 0, code))
        return response


class ReadyProbe(threading.Thread):
    """Polls each replica's /v1/ready every 0.1 s."""

    def __init__(self, replicas: list[Replica], record: Record, clock: Callable[[], float],
                 stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.replicas, self.record, self.clock, self.stop = replicas, record, clock, stop

    def run(self) -> None:
        while not self.stop.is_set():
            for replica in self.replicas:
                try:
                    status = httpx.get(f"{replica.base}/v1/ready", timeout=REQUEST_TIMEOUT_S).status_code
                except httpx.TransportError:
                    status = 0
                with self.record.lock:
                    self.record.ready.append((replica.index, self.clock(), status))
            time.sleep(0.1)


@dataclass
class OutageResult:
    """One fault: when it began and ended (run clock, s), what was answered, and what went wrong."""

    fault: str
    began: float
    ended: float
    record: Record
    recovered_s: dict[str, float]  # per replica: ready again / first acknowledged write, after the fault ended
    problems: list[str]

    def summary(self) -> dict:
        during = [a for a in self.record.answers if self.began <= a.start < self.ended]
        failed = [a for a in during if a.status >= 400 or a.status == 0]
        latency = np.array([a.end - a.start for a in failed]) * 1000
        codes: dict[str, int] = {}
        for a in during:
            key = f"{a.status} {a.code}" if a.code else str(a.status)
            codes[key] = codes.get(key, 0) + 1
        not_ready = [s for _, t, s in self.record.ready if self.began <= t < self.ended]
        return {"fault": self.fault, "outage_s": round(self.ended - self.began, 2),
                "requests": len(self.record.answers), "during": len(during), "answers_during": codes,
                "failed_ms_p50": round(float(np.percentile(latency, 50)), 1) if failed else None,
                "failed_ms_max": round(float(latency.max()), 1) if failed else None,
                "ready_probes_during": len(not_ready), "ready_503_during": not_ready.count(503),
                "server_errors": sum(a.status >= 500 and a.code != "database_unavailable" for a in self.record.answers),
                "enrolled": len(self.record.enrolled), "recovered_s": self.recovered_s,
                "problems": self.problems}


def _prepare(replica: Replica, people: Iterator[tuple[str, list[Path]]], count: int) -> list[tuple[int, list[Path]]]:
    """`count` identities on the replica, each with the photos of one LFW person to enrol during the run."""
    made = []
    with replica.client() as client:
        for _ in range(count):
            name, photos = next(people)
            identity = client.post("/v1/identities", json={"name": name}).raise_for_status().json()["id"]
            made.append((identity, list(photos)))
    return made


def _recovery(record: Record, replicas: int, ended: float) -> dict[str, float]:
    """Per replica, seconds from the end of the fault until /v1/ready said 200 and until a write was acknowledged."""
    found = {}
    for replica in range(replicas):
        ready = [t for r, t, s in record.ready if r == replica and t >= ended and s == 200]
        writes = [a.end for a in record.answers if a.replica == replica and a.route == "enrol" and a.start >= ended
                  and a.status == 201]
        found[f"replica {replica} ready"] = round(min(ready) - ended, 2) if ready else -1
        found[f"replica {replica} write"] = round(min(writes) - ended, 2) if writes else -1
    return found


def _answer_problems(record: Record, began: float, ended: float, expect_unready: bool) -> list[str]:
    """500s, hangs, uncoded failures; and, during the fault, no 503 database_unavailable or no unready probe."""
    problems = [f"replica {a.replica} {a.route}: {a.status} {a.code}" for a in record.answers
                if a.status == 0 or (a.status >= 500 and a.code != "database_unavailable")
                or (a.status >= 400 and a.route != "enrol" and a.code != "database_unavailable")]
    during = [a for a in record.answers if began <= a.start < ended]
    if not any(a.code == "database_unavailable" for a in during):
        problems.append("no request during the fault was answered 503 database_unavailable")
    if expect_unready and not any(s == 503 for _, t, s in record.ready if began <= t < ended):
        problems.append("/v1/ready never said not ready during the fault")
    return problems


def _gallery_problems(record: Record, replicas: list[Replica], engine: Engine, embedder: str, dim: int) -> list[str]:
    """Every acknowledged enrolment is in SQL, nothing is half-written, every replica's index agrees with SQL."""
    state = read_state(engine, embedder)
    problems = [f"acknowledged face {face_id} {owner} is not in SQL ({state.faces.get(face_id)})"
                for face_id, owner in record.enrolled.items() if state.faces.get(face_id) != owner]
    problems += sql_problems(engine, embedder, dim)
    probes = {identity_id: record.photos[sha] for identity_id, sha in state.faces.values() if sha in record.photos}
    for replica in replicas:
        with replica.client() as client:
            problems += [f"replica {replica.index}: {p}" for p in index_problems(client, engine, embedder, dim, probes)]
    return problems


def run_fault(fault: str, database_url: str, begin: Callable[[], None], end: Callable[[], None], settings: Settings,
              workdir: Path, replicas: int = 2, before_s: float = 3.0, outage_s: float = 8.0,
              expect_unready: bool = True) -> OutageResult:
    """Light load on `replicas` services on `database_url`; `begin()` the fault after `before_s`, `end()` it
    `outage_s` later, keep the load on until every replica acknowledged a write again, then check."""
    dim = load_model_card(settings.embedder_dir).embedding.dim
    env = {"FACEVER_MODELS_DIR": str(settings.models_dir), "FACEVER_EMBEDDER": settings.embedder,
           "FACEVER_DATABASE_URL": database_url, "FACEVER_API_KEYS": f"admin:{ADMIN_KEY}",
           "FACEVER_GALLERY_SYNC_INTERVAL": "0.5", "FACEVER_METRICS_AUTH": "off"}
    people = iter(sorted(lfw_candidates(), key=lambda person: -len(person[1])))  # photos enough for the run
    record, stop, origin = Record(), threading.Event(), time.perf_counter()

    def clock() -> float:
        return time.perf_counter() - origin

    engine = make_engine(database_url)
    with ExitStack() as stack:
        stack.callback(engine.dispose)
        services = []
        for index in range(replicas):
            services.append(Replica(index, env, workdir))
            stack.callback(stop_service, services[-1].process)
        for replica in services:
            wait_ready(replica.process, replica.base, replica.log)
        probe = lfw_candidates()[0][1][0].read_bytes()  # a person with few photos: never enrolled
        threads = [Load(r, _prepare(r, people, 3), probe, record, clock, stop) for r in services]
        threads.append(ReadyProbe(services, record, clock, stop))
        for thread in threads:
            thread.start()
        time.sleep(before_s)
        began = clock()
        begin()
        time.sleep(outage_s)
        end()
        ended = clock()
        deadline = time.perf_counter() + RECOVERY_DEADLINE_S
        while time.perf_counter() < deadline and min(_recovery(record, replicas, ended).values()) < 0:
            time.sleep(0.2)
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join()
        recovered = _recovery(record, replicas, ended)
        problems = _answer_problems(record, began, ended, expect_unready)
        problems += [f"{what} never recovered" for what, seconds in recovered.items() if seconds < 0]
        problems += _gallery_problems(record, services, engine, settings.embedder, dim)
    return OutageResult(fault, began, ended, record, recovered, problems)


def postgres_outage(settings: Settings, workdir: Path, outage_s: float = 8.0) -> OutageResult:
    """Postgres stopped (fast shutdown: every session ended) under load on two replicas, then started again."""
    with ThrowawayPostgres() as server:
        upgrade(server.url)
        return run_fault("postgres stopped", server.url, server.stop, server.start, settings, workdir,
                         outage_s=outage_s)


@contextmanager
def small_filesystem(folder: Path, size: str = "32m") -> Iterator[Path]:
    """A tmpfs of `size` at `folder`, unmounted afterwards; raises PermissionError where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=False,
                          capture_output=True)
    if done.returncode:
        raise PermissionError(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def _fill(folder: Path) -> None:
    """Write a file until the filesystem is full."""
    with (folder / "filler").open("wb") as out:
        try:
            while True:
                out.write(b"\0" * (1 << 20))
                out.flush()
        except OSError:  # ENOSPC: full
            pass


def sqlite_disk_full(settings: Settings, workdir: Path, outage_s: float = 8.0) -> OutageResult:
    """SQLite on a tmpfs that another file fills up under load, then frees."""
    with small_filesystem(workdir / "sqlite-fs") as folder:
        url = f"sqlite:///{folder / 'facever.db'}"
        # readiness asks the database to answer a read, which a full disk still allows
        return run_fault("SQLite disk full", url, lambda: _fill(folder), lambda: (folder / "filler").unlink(),
                         settings, workdir, replicas=1, outage_s=outage_s, expect_unready=False)


def section(results: list[OutageResult], args: argparse.Namespace) -> str:
    rows = []
    for result in results:
        s = result.summary()
        answers = ", ".join(f"{count}× {key}" for key, count in sorted(s["answers_during"].items()))
        recovered = ", ".join(f"{what} {seconds:.1f}" for what, seconds in s["recovered_s"].items())
        rows.append(f"| {s['fault']} | {s['outage_s']:.1f} | {answers} | {s['failed_ms_p50']} / {s['failed_ms_max']} "
                    f"| {s['ready_503_during']} of {s['ready_probes_during']} | {recovered} | {s['enrolled']} | "
                    f"{s['server_errors']} | {len(s['problems'])} |")
    return f"""## Database outages

What is promised: while the database cannot be reached, or cannot take writes, every request that needs it fails
at once with `503` and the error code `database_unavailable` (`details.reason`: `unreachable`, `read_only`,
`full`, `busy` or `io_error`), never a 500 or a hang; `/v1/ready` answers 503 while the database cannot be
reached; when the database is back the service serves again without a restart, nothing acknowledged is lost,
and every replica's index catches up with the writes of the others. The OpenAPI document lists the 503 on every
route that touches the database. A Postgres host that stops answering (rather than refusing) fails a request
after the 5 s connect timeout (libpq's `connect_timeout` in the URL overrides it).

How it is tested: `benchmarks/database_outage.py` keeps a light load (per replica, one thread: enrol an LFW
photo, identify a photo, list identities, pause {PAUSE_S} s) and polls `/v1/ready` every 0.1 s, then

- **Postgres stopped**: two replicas of `facever serve` on one Postgres server of their own (a private
  server in a temporary folder); the server is stopped (`pg_ctl stop -m fast`, which ends every session) for
  {args.outage_s:.0f} s, then started again;
- **SQLite disk full**: one service on a SQLite file in a small tmpfs, which another file fills up for
  {args.outage_s:.0f} s, then frees.

It counts every answer, checks that the failures were coded 503s, measures how long the service took to be ready
and to acknowledge a write again once the fault ended, then checks that every acknowledged enrolment is in SQL,
that nothing is half-written and that each replica's index agrees with SQL (the checks of the crash-safety run).
Reads keep working on a full SQLite disk, so readiness stays 200 there. A shorter run of each is in the test suite
(`tests/reliability/test_database_outage.py`).

A write answered 503 was not acknowledged, but may still have been stored if the database failed right after its
commit; retrying an enrolment then answers `duplicate_image` with the stored face's id. A SQLite file on a
read-only disk cannot be opened in WAL mode at all: the service refuses to start, with the error code
`database_unavailable`, and leaves the file as it was (tested by remounting the tmpfs read-only; a disk cannot be
made read-only under a process that holds its files open for writing).

| fault | seconds | answers while it lasted | failed answers ms (p50 / max) | /v1/ready 503 | recovered after, s | faces acknowledged | 500s | problems |
|---|---:|---|---:|---:|---|---:|---:|---:|
{chr(10).join(rows)}

Measured under `nice -n 19` on {machine()["cores"]} shared cores (load average {load1()} at the end).

Command: `nice -n 19 python benchmarks/database_outage.py --outage-s {args.outage_s:g}`
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage-s", type=float, default=10.0)
    args = parser.parse_args()
    settings = Settings(models_dir=ROOT / "models", embedder=Settings.model_fields["embedder"].default)
    with tempfile.TemporaryDirectory() as workdir:
        results = [postgres_outage(settings, Path(workdir), args.outage_s)]
        results.append(sqlite_disk_full(settings, Path(workdir), args.outage_s))
    for result in results:
        print(result.summary())
    write_json(NAME, {"machine": machine(), "args": vars(args), "faults": [r.summary() for r in results]})
    replace_section(REPORT, NAME, section(results, args), "# Reliability\n")
    raise SystemExit(1 if any(r.problems for r in results) else 0)


if __name__ == "__main__":
    main()
