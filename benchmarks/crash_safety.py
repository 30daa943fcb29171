"""Crash safety: kill -9 `facever serve` at random moments during concurrent writes, restart it, check everything.

Each round starts the service on the same database, lets writer threads create identities, enrol LFW photos,
edit identities, delete faces and delete identities over HTTP, and kills the process with SIGKILL after a
random delay. After the restart it checks that every acknowledged (2xx) write is there, every acknowledged delete
stays gone, a write cut off by the kill either happened whole or not at all, SQL holds nothing half-written, and
the service's index agrees with SQL (benchmarks.gallery_consistency). Runs on SQLite and on a fresh Postgres
database (created on FACEVER_TEST_DATABASE_URL's server, dropped at the end), then writes the figures to
docs/reliability.md.

    nice -n 19 python benchmarks/crash_safety.py --rounds 20
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text

from benchmarks.gallery_consistency import SqlState, index_problems, read_state, sql_problems
from benchmarks.report import ROOT, load1, machine, write_json
from benchmarks.service_latency import free_port, lfw_candidates, start_service, stop_service, wait_ready
from service.config import Settings
from service.db.engine import make_engine
from service.db.migrate import upgrade
from service.vision.model_card import load_model_card
from training.doc_sections import replace_section

NAME = "crash_safety"
REPORT = ROOT / "docs" / "reliability.md"
ADMIN_KEY = "crash-safety-admin-key"
POSTGRES_SERVER = os.environ.get("FACEVER_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
WRITERS = 4
REQUEST_TIMEOUT_S = 120.0  # an enrolment on busy shared cores
# what a writer does next (weights), once it holds identities to work on
ACTIONS = {"enrol": 8, "edit": 3, "delete_face": 2, "create": 2, "delete_identity": 1}
# refusals a real photo may earn (no usable face, or an ambiguous one): not faults
PHOTO_REFUSALS = {"no_face", "face_too_small", "low_detection_score", "multiple_faces", "invalid_image"}


@dataclass
class Person:
    name: str
    photos: list[Path]  # not yet sent


@dataclass
class IdentityRecord:
    """What the client knows of one identity: the last acknowledged name, and names sent without an answer."""

    person: Person
    name: str
    pending: list[str] = field(default_factory=list)
    deleted: str = ""  # "" alive, "acked", "maybe" (sent, no answer)
    faces: dict[int, str] = field(default_factory=dict)  # acknowledged face id -> image sha256
    face_deletes: dict[int, str] = field(default_factory=dict)  # face id -> "acked" | "maybe"


@dataclass
class Tally:
    acknowledged: Counter = field(default_factory=Counter)  # kind -> 2xx answers
    cut_off: Counter = field(default_factory=Counter)  # kind -> requests the kill left unanswered
    cut_off_applied: Counter = field(default_factory=Counter)  # kind -> of those, found done after the restart
    refused_photos: int = 0
    problems: list[str] = field(default_factory=list)


class Ledger:
    """The writers' shared record of what they sent and what was acknowledged."""

    def __init__(self, people: list[Person]) -> None:
        self.lock = threading.Lock()
        self.people = iter(people)
        self.identities: dict[int, IdentityRecord] = {}
        self.unanswered_creates: dict[str, Person] = {}  # name -> person
        self.unanswered_enrols: set[tuple[int, str]] = set()  # (identity id, image sha256)
        self.photos: dict[str, bytes] = {}  # sha256 -> photo, of every photo sent
        self.tally = Tally()

    def next_person(self) -> Person:
        with self.lock:
            return next(self.people)

    def alive(self) -> list[int]:
        with self.lock:
            return [i for i, record in self.identities.items() if not record.deleted]

    def reconcile(self, state: SqlState) -> None:
        """Hold SQL after a restart against what was acknowledged; settle what the kill cut off."""
        tally, problems = self.tally, self.tally.problems
        for identity_id, record in list(self.identities.items()):
            present = identity_id in state.identities
            if record.deleted == "acked" and present:
                problems.append(f"identity {identity_id}: acknowledged delete undone")
            if record.deleted == "maybe":
                tally.cut_off_applied["delete_identity"] += not present
                record.deleted = "" if present else "acked"
            if record.deleted:
                continue
            if not present:
                problems.append(f"identity {identity_id}: acknowledged, missing after restart")
                record.deleted = "lost"
                continue
            name = state.identities[identity_id][0]
            if name not in (record.name, *record.pending):
                problems.append(f"identity {identity_id}: name {name!r}, neither acknowledged {record.name!r} "
                                f"nor sent since {record.pending}")
            tally.cut_off_applied["edit"] += name in record.pending and name != record.name
            record.name, record.pending = name, []
        self._reconcile_faces(state)
        for identity_id, (name, _) in state.identities.items():
            if identity_id in self.identities:
                continue
            person = self.unanswered_creates.pop(name, None)
            if person is None:
                problems.append(f"identity {identity_id} ({name!r}) was never sent")
                continue
            tally.cut_off_applied["create"] += 1
            self.identities[identity_id] = IdentityRecord(person, name)
        self.unanswered_creates.clear()
        self._adopt_faces(state)
        self.unanswered_enrols.clear()

    def _reconcile_faces(self, state: SqlState) -> None:
        tally, problems = self.tally, self.tally.problems
        for identity_id, record in self.identities.items():
            for face_id, status in list(record.face_deletes.items()):
                present = face_id in state.faces
                if status == "acked" and present:
                    problems.append(f"face {face_id}: acknowledged delete undone")
                elif status == "maybe" and present:  # the kill came first: the face stays
                    del record.face_deletes[face_id]
                elif status == "maybe":  # done before the kill: as good as acknowledged from now on
                    tally.cut_off_applied["delete_face"] += 1
                    record.face_deletes[face_id] = "acked"
            for face_id, sha in list(record.faces.items()):
                if face_id in record.face_deletes:
                    continue
                if record.deleted:
                    if face_id in state.faces:
                        problems.append(f"face {face_id} outlived its deleted identity {identity_id}")
                    continue
                if state.faces.get(face_id) != (identity_id, sha):
                    problems.append(f"face {face_id} of identity {identity_id}: acknowledged, SQL has "
                                    f"{state.faces.get(face_id)}")

    def _adopt_faces(self, state: SqlState) -> None:
        known = {face_id for record in self.identities.values() for face_id in (*record.faces, *record.face_deletes)}
        for face_id, (identity_id, sha) in state.faces.items():
            if face_id in known:
                continue
            if (identity_id, sha) not in self.unanswered_enrols or identity_id not in self.identities:
                self.tally.problems.append(f"face {face_id} of identity {identity_id} was never sent")
                continue
            self.tally.cut_off_applied["enrol"] += 1
            self.identities[identity_id].faces[face_id] = sha

    def probes(self, state: SqlState, count: int, rng: random.Random) -> dict[int, bytes]:
        """Up to `count` identities with faces in SQL, each with the photo of one of its faces."""
        photos = {identity_id: self.photos[sha] for identity_id, sha in state.faces.values() if sha in self.photos}
        chosen = rng.sample(sorted(photos), min(count, len(photos)))
        return {identity_id: photos[identity_id] for identity_id in chosen}


def _error_code(response: httpx.Response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


class Writer(threading.Thread):
    """Writes through the API until the service dies (or `stop` is set), recording every answer."""

    def __init__(self, base: str, ledger: Ledger, owned: list[int], seed: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.base, self.ledger, self.owned, self.stop = base, ledger, owned, stop
        self.rng = random.Random(seed)

    def run(self) -> None:
        with httpx.Client(base_url=self.base, headers={"X-API-Key": ADMIN_KEY}, timeout=REQUEST_TIMEOUT_S) as client:
            while not self.stop.is_set():
                kind, identity_id = self._choose()
                try:
                    getattr(self, kind)(client, identity_id)
                except httpx.ConnectError:  # the service is gone: this request never reached it
                    return
                except httpx.TransportError:  # the service died under this request: its outcome is unknown
                    with self.ledger.lock:
                        self.ledger.tally.cut_off[kind] += 1
                    return

    def _choose(self) -> tuple[str, int]:
        """The next action and the identity it is on (0 for a create); one that cannot apply becomes a create."""
        alive = [i for i in self.owned if not self.ledger.identities[i].deleted]
        kind = self.rng.choices(list(ACTIONS), weights=list(ACTIONS.values()))[0] if len(alive) >= 2 else "create"
        able = {"enrol": lambda r: r.person.photos, "delete_face": lambda r: set(r.faces) - set(r.face_deletes)}
        if kind in able:
            alive = [i for i in alive if able[kind](self.ledger.identities[i])]
        return (kind, self.rng.choice(alive)) if alive and kind != "create" else ("create", 0)

    def _record(self, kind: str, response: httpx.Response) -> bool:
        """True for a 2xx; anything but a photo's refusal is a problem."""
        with self.ledger.lock:
            if response.is_success:
                self.ledger.tally.acknowledged[kind] += 1
                return True
            code = _error_code(response)
            if kind == "enrol" and code in PHOTO_REFUSALS:
                self.ledger.tally.refused_photos += 1
            else:
                self.ledger.tally.problems.append(f"{kind}: {response.status_code} {response.text[:300]}")
            return False

    def create(self, client: httpx.Client, _: int) -> None:
        person = self.ledger.next_person()
        name = f"{person.name} {uuid.uuid4().hex[:8]}"
        with self.ledger.lock:
            self.ledger.unanswered_creates[name] = person
        response = client.post("/v1/identities", json={"name": name, "metadata": {"person": person.name}})
        if self._record("create", response):
            identity_id = response.json()["id"]
            with self.ledger.lock:
                del self.ledger.unanswered_creates[name]
                self.ledger.identities[identity_id] = IdentityRecord(person, name)
            self.owned.append(identity_id)

    def enrol(self, client: httpx.Client, identity_id: int) -> None:
        record = self.ledger.identities[identity_id]
        photo = record.person.photos.pop().read_bytes()
        sha = hashlib.sha256(photo).hexdigest()
        with self.ledger.lock:
            self.ledger.photos[sha] = photo
            self.ledger.unanswered_enrols.add((identity_id, sha))
        response = client.post(f"/v1/identities/{identity_id}/faces", files={"images": ("p.jpg", photo, "image/jpeg")})
        with self.ledger.lock:
            self.ledger.unanswered_enrols.discard((identity_id, sha))
        if self._record("enrol", response):
            with self.ledger.lock:
                record.faces[response.json()["results"][0]["face_id"]] = sha

    def edit(self, client: httpx.Client, identity_id: int) -> None:
        record = self.ledger.identities[identity_id]
        name = f"{record.person.name} {uuid.uuid4().hex[:8]}"
        with self.ledger.lock:
            record.pending.append(name)
        response = client.patch(f"/v1/identities/{identity_id}", json={"name": name, "metadata": {"edit": name}})
        if self._record("edit", response):
            with self.ledger.lock:
                record.name, record.pending = name, []

    def delete_face(self, client: httpx.Client, identity_id: int) -> None:
        record = self.ledger.identities[identity_id]
        face_id = self.rng.choice(sorted(set(record.faces) - set(record.face_deletes)))
        with self.ledger.lock:
            record.face_deletes[face_id] = "maybe"
        if self._record("delete_face", client.delete(f"/v1/identities/{identity_id}/faces/{face_id}")):
            with self.ledger.lock:
                record.face_deletes[face_id] = "acked"

    def delete_identity(self, client: httpx.Client, identity_id: int) -> None:
        record = self.ledger.identities[identity_id]
        with self.ledger.lock:
            record.deleted = "maybe"
        if self._record("delete_identity", client.delete(f"/v1/identities/{identity_id}")):
            with self.ledger.lock:
                record.deleted = "acked"


@dataclass
class RunResult:
    backend: str
    rounds: int
    tally: Tally
    kill_after_s: list[float]
    restart_s: list[float]
    probes: int
    final_faces: int
    final_identities: int
    seconds: float

    def as_json(self) -> dict:
        tally = {key: dict(value) if isinstance(value, Counter) else value for key, value in vars(self.tally).items()}
        return {**{key: value for key, value in vars(self).items() if key != "tally"}, "tally": tally}


def run(backend: str, database_url: str, rounds: int, seed: int, workdir: Path, settings: Settings,
        max_kill_after_s: float = 6.0, probes_per_round: int = 3) -> RunResult:
    """`rounds` kill-restart-check rounds on one database; the result's tally holds every problem found."""
    rng, started = random.Random(seed), time.perf_counter()
    people = [Person(name, images) for name, images in lfw_candidates()]
    rng.shuffle(people)
    ledger = Ledger(people)
    dim = load_model_card(settings.embedder_dir).embedding.dim
    env = {"FACEVER_MODELS_DIR": str(settings.models_dir), "FACEVER_EMBEDDER": settings.embedder,
           "FACEVER_DATABASE_URL": database_url, "FACEVER_API_KEYS": f"admin:{ADMIN_KEY}",
           "FACEVER_GALLERY_SYNC_INTERVAL": "0", "FACEVER_METRICS_AUTH": "off"}
    engine = make_engine(database_url)
    kills, restarts, probes = [], [], 0
    try:
        for round_ in range(rounds):
            port = free_port()
            base, log = f"http://127.0.0.1:{port}", workdir / f"{backend}-{round_}.log"
            server = start_service(port, env, log)
            try:
                restarts.append(wait_ready(server, base, log))
                if round_:  # the state the previous round's kill left, as the restarted service serves it
                    probes += _check(ledger, engine, base, settings.embedder, dim, rng, probes_per_round)
                kills.append(_write_and_kill(server, base, ledger, rng, max_kill_after_s))
            finally:
                server.kill()
                server.wait()
        port, log = free_port(), workdir / f"{backend}-final.log"
        server = start_service(port, env, log)
        try:
            base = f"http://127.0.0.1:{port}"
            restarts.append(wait_ready(server, base, log))
            probes += _check(ledger, engine, base, settings.embedder, dim, rng, probes_per_round)
        finally:
            stop_service(server)
        state = read_state(engine, settings.embedder)
    finally:
        engine.dispose()
    identities = len({identity_id for identity_id, _ in state.faces.values()})
    return RunResult(backend, rounds, ledger.tally, kills, restarts, probes, len(state.faces), identities,
                     round(time.perf_counter() - started, 1))


def _write_and_kill(server, base: str, ledger: Ledger, rng: random.Random, max_kill_after_s: float) -> float:
    """Writers on the live service until a SIGKILL after a random delay; returns the delay in seconds."""
    alive = ledger.alive()
    stop = threading.Event()
    writers = [Writer(base, ledger, alive[i::WRITERS], rng.randrange(2**32), stop) for i in range(WRITERS)]
    for writer in writers:
        writer.start()
    delay = rng.uniform(0.2, max_kill_after_s)
    time.sleep(delay)
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    stop.set()
    for writer in writers:
        writer.join()
    return delay


def _check(ledger: Ledger, engine, base: str, embedder: str, dim: int, rng: random.Random, probes: int) -> int:
    """All checks of one restart; returns how many identify probes ran."""
    state = read_state(engine, embedder)
    ledger.reconcile(state)
    ledger.tally.problems += sql_problems(engine, embedder, dim)
    chosen = ledger.probes(state, probes, rng)
    with httpx.Client(base_url=base, headers={"X-API-Key": ADMIN_KEY}, timeout=REQUEST_TIMEOUT_S) as client:
        ledger.tally.problems += index_problems(client, engine, embedder, dim, chosen)
    return len(chosen)


@contextmanager
def postgres_database(server_url: str = POSTGRES_SERVER) -> Iterator[str]:
    """A new, uniquely named database on `server_url`'s server, migrated; dropped afterwards."""
    name = f"facever_crash_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:  # FORCE: a killed service's connections may not be closed yet
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def section(results: list[RunResult], args: argparse.Namespace) -> str:
    rows = []
    for r in results:
        t = r.tally
        acked = ", ".join(f"{t.acknowledged[k]} {k}" for k in ACTIONS)
        cut = sum(t.cut_off.values())
        applied = sum(t.cut_off_applied.values())
        rows.append(f"| {r.backend} | {r.rounds} | {sum(t.acknowledged.values())} ({acked}) | {cut} | {applied} | "
                    f"{r.probes} | {statistics.median(r.restart_s):.1f} / {max(r.restart_s):.1f} | "
                    f"{r.final_faces} / {r.final_identities} | {len(t.problems)} |")
    return f"""## Crash safety

What is promised: a write the service acknowledged (any 2xx) survives the process being killed at any moment
(`kill -9`, power loss of the service's host with the database elsewhere); a delete it acknowledged stays done;
a write the kill cut off happened whole or not at all; and after a restart the search index agrees with SQL.

How it is tested: `benchmarks/crash_safety.py` starts `facever serve` on a database, lets {WRITERS} writer
threads create identities, enrol LFW photos (one per request), rename identities, delete faces and delete
identities over HTTP, and kills the process with SIGKILL after a random delay (uniform, 0.2 to
{args.max_kill_after:.0f} s after the service is ready), round after round on the same database. After each
restart it checks:

- every acknowledged create, enrolment and edit is in SQL as acknowledged, or as a later edit the kill cut off;
  every acknowledged delete is still done; nothing is in SQL that no writer sent;
- nothing is half-written: every face's vector is a finite unit vector of the model's dimension; the change log
  names every face with exactly one add event for its identity, and every face that is gone with an add then a
  remove; on SQLite the log's sequence has no gap and `PRAGMA integrity_check` passes (Postgres sequences skip
  the numbers of rolled-back inserts, which the gallery does not rely on);
- the index agrees with SQL: `/metrics` (`facever_index_faces`, `facever_index_identities`) and
  `/v1/identify`'s `identities` equal SQL's counts, and `/v1/identify` of an enrolled photo of
  {args.probes} random identities lists the identity, every candidate scored as its template computed from
  SQL's vectors gives.

Postgres runs on a fresh database created for the run and dropped after it; SQLite on a fresh file. A few rounds
of the same run are in the test suite (`tests/reliability/test_crash_safety.py`).

| database | rounds | acknowledged writes | cut off by the kill | of those, done | identify probes | restart s (median / max) | faces / identities at the end | problems |
|---|---:|---|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows)}

Problems found: {"none" if not any(r.tally.problems for r in results) else "see benchmarks/results/crash_safety.json"}.
Measured under `nice -n 19` on {machine()["cores"]} shared cores (load average {load1()} at the end).

Command: `nice -n 19 python benchmarks/crash_safety.py --rounds {args.rounds} --seed {args.seed}`
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="kills per database")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-kill-after", type=float, default=6.0, help="seconds; the kill comes at random before")
    parser.add_argument("--probes", type=int, default=3, help="identify probes per restart")
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    settings = Settings(models_dir=ROOT / "models", embedder=Settings.model_fields["embedder"].default)
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for backend in args.backends.split(","):
            print(f"{backend}: {args.rounds} rounds", flush=True)
            if backend == "sqlite":
                url = f"sqlite:///{Path(workdir) / 'facever.db'}"
                results.append(run(backend, url, args.rounds, args.seed, Path(workdir), settings,
                                   args.max_kill_after, args.probes))
            else:
                with postgres_database() as url:
                    results.append(run(backend, url, args.rounds, args.seed, Path(workdir), settings,
                                       args.max_kill_after, args.probes))
            r = results[-1]
            print(f"{backend}: acknowledged {dict(r.tally.acknowledged)}, cut off {dict(r.tally.cut_off)}, "
                  f"done {dict(r.tally.cut_off_applied)}, problems {len(r.tally.problems)}", flush=True)
            for problem in r.tally.problems:
                print("  ", problem)
    write_json(NAME, {"machine": machine(), "args": vars(args), "runs": [r.as_json() for r in results]})
    replace_section(REPORT, NAME, section(results, args), "# Reliability\n")
    raise SystemExit(1 if any(r.tally.problems for r in results) else 0)


if __name__ == "__main__":
    main()
