"""Bounded memory under hostile uploads: many maximum-size uploads at once, and bodies trickled a byte at a time.

Starts `facever serve` on a fresh SQLite gallery, warms it up with as many concurrent identifies of plain LFW
photos as the attack has clients (so the models' working memory at that concurrency is in the baseline), then

- **maximum-size uploads**: `--clients` threads post `/v1/identify` at once, each an LFW photo padded to
  FACEVER_MAX_IMAGE_BYTES, round after round;
- **slow bodies**: `--clients` connections each declare a maximum-size body and send it a byte every
  `--trickle-s` seconds, until the service answers or closes the connection.

During each attack a bystander client polls `/v1/health` and verifies a pair of photos, and the service process's
peak resident memory is read from the kernel (`VmHWM`, reset before each attack). Writes the figures to
docs/reliability.md.

    nice -n 19 python benchmarks/hostile_uploads.py
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.report import ROOT, load1, machine, write_json
from benchmarks.service_latency import free_port, lfw_candidates, start_service, stop_service, wait_ready
from service.api.routes.faces import MAX_IMAGES
from service.api.uploads import body_limit
from service.config import Settings
from training.doc_sections import replace_section

NAME = "hostile_uploads"
REPORT = ROOT / "docs" / "reliability.md"
ADMIN_KEY = "hostile-uploads-admin-key"
MiB = 1024 * 1024
# the memory bound's terms (see memory_bound)
BODY_COPIES = 3  # a JSON upload: the raw body, the parsed base64 string, the decoded image
# bytes a pixel while an image decodes, at most: an RGBA PNG with an EXIF rotation peaks at 30 (Pillow's image, its
# rotated copy, the composite on white, the RGB conversion, the array), a 16-bit grey one at 28, RGB at 18
DECODE_PIXEL_BYTES = 32
HELD_PIXEL_BYTES = 3  # the decoded HxWx3 uint8 image a request holds until its faces are aligned
PIPELINE_THREADS = 40  # AnyIO's default thread limiter: route work (decoding included) running at once
BYSTANDER_PAUSE_S = 0.1
REQUEST_TIMEOUT_S = 120.0  # 32 decodes on busy shared cores
CLOSE_WAIT_S = 5.0  # how long a refused slow body's connection may stay open after the answer


def memory_bound(baseline: int, max_image_bytes: int, max_image_pixels: int, clients: int, decodes: int) -> int:
    """Bytes the service's resident memory stays under while `clients` one-image uploads are in flight.

    baseline (the service warmed up with photos of the attack's size at that concurrency: models, their working
      memory, detection's copies of the image shrunk to FACEVER_DETECTOR_MAX_SIDE, the index)
    + clients x BODY_COPIES x the route's body limit (what reading each body may hold; the body limits refuse
      more, and files of a multipart upload over 1 MiB spool to disk)
    + min(clients, decodes) x DECODE_PIXEL_BYTES x FACEVER_MAX_IMAGE_PIXELS (FACEVER_CONCURRENT_DECODES at once)
    + min(clients, PIPELINE_THREADS) x HELD_PIXEL_BYTES x FACEVER_MAX_IMAGE_PIXELS (decoded images in use).
    """
    bodies = clients * BODY_COPIES * body_limit(max_image_bytes, 1)
    decoding = min(clients, decodes) * DECODE_PIXEL_BYTES * max_image_pixels
    held = min(clients, PIPELINE_THREADS) * HELD_PIXEL_BYTES * max_image_pixels
    return baseline + bodies + decoding + held


# --- memory of the service process --------------------------------------------------------------------------


def _status_kib(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field_name}")


class PeakMemory:
    """The process's peak resident memory since start(): the kernel's high-water mark (VmHWM), reset by writing 5
    to clear_refs; where that is not allowed, the largest of VmRSS polled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.polled, self._stop = pid, 0, threading.Event()
        self._poller: threading.Thread | None = None

    def rss(self) -> int:
        return _status_kib(self.pid, "VmRSS") * 1024

    def start(self) -> None:
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self.reset = True
        except OSError:
            self.reset = False
        self.polled, self._stop = self.rss(), threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.01):
            self.polled = max(self.polled, self.rss())

    def stop(self) -> int:
        self._stop.set()
        assert self._poller is not None
        self._poller.join()
        return max(self.polled, _status_kib(self.pid, "VmHWM") * 1024 if self.reset else 0)


# --- clients ------------------------------------------------------------------------------------------------


def padded(photo: bytes, size: int) -> bytes:
    """The photo followed by zeros up to `size` bytes: still a valid JPEG (decoders stop at its end marker)."""
    return photo + bytes(size - len(photo))


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


def _answer(response: httpx.Response) -> str:
    return f"{response.status_code} {_error_code(response)}".strip()


@dataclass
class Bystander:
    """Another client, served while an attack lasts: /v1/health polls and verifies of one photo pair."""

    base: str
    pair: tuple[bytes, bytes]
    health_s: list[float] = field(default_factory=list)
    verify_s: list[float] = field(default_factory=list)
    answers: Counter = field(default_factory=Counter)

    def run(self, stop: threading.Event) -> None:
        files = {"image_a": ("a.jpg", self.pair[0], "image/jpeg"), "image_b": ("b.jpg", self.pair[1], "image/jpeg")}
        with httpx.Client(base_url=self.base, headers={"X-API-Key": ADMIN_KEY}, timeout=REQUEST_TIMEOUT_S) as client:
            while not stop.is_set():
                self._timed(self.health_s, "health", lambda: client.get("/v1/health"))
                self._timed(self.verify_s, "verify", lambda: client.post("/v1/verify", files=files))
                stop.wait(BYSTANDER_PAUSE_S)

    def _timed(self, samples: list[float], route: str, call: Callable[[], httpx.Response]) -> None:
        t0 = time.perf_counter()
        try:
            answer = _answer(call())
        except httpx.TransportError as error:
            answer = type(error).__name__
        samples.append(time.perf_counter() - t0)
        self.answers[f"{route} {answer}"] += 1


def _multipart(image: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body of one image field, and its content type."""
    boundary = "hostile-uploads-boundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n").encode()
    return head + image + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def trickle(port: int, body: bytes, content_type: str, every_s: float, give_up_s: float) -> tuple[str, float]:
    """Send a request whose body comes a byte every `every_s` seconds; the answer ("408 body_timeout", with ", connection
    kept open" if the service did not close it then; "closed" without an answer; "held" if none came within
    `give_up_s`) and the seconds it took to come."""
    head = (f"POST /v1/identify HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {ADMIN_KEY}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=every_s) as sock:
        sock.sendall(head)
        sent = 0
        while time.perf_counter() - t0 < give_up_s:
            try:
                first = sock.recv(65536)
            except TimeoutError:  # nothing to read yet: send the next byte
                try:
                    sock.sendall(body[sent:sent + 1])
                except OSError:
                    return "closed", time.perf_counter() - t0
                sent += 1
                continue
            except OSError:
                return "closed", time.perf_counter() - t0
            seconds = time.perf_counter() - t0
            return (_parse_answer(first, sock) if first else "closed"), seconds
    return "held", time.perf_counter() - t0


def _parse_answer(first: bytes, sock: socket.socket) -> str:
    raw = first
    head, _, rest = raw.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    status = head.split(b" ")[1].decode()
    try:
        answer = f"{status} {json.loads(rest)['error']['code']}"
    except (ValueError, KeyError, TypeError):
        answer = status
    try:  # the service must close the connection, not go on reading the body a byte at a time
        sock.settimeout(CLOSE_WAIT_S)
        return answer if sock.recv(1) == b"" else f"{answer}, then more bytes"
    except TimeoutError:
        return f"{answer}, connection kept open"
    except OSError:
        return answer


# --- attacks ------------------------------------------------------------------------------------------------


@dataclass
class AttackResult:
    name: str
    seconds: float
    answers: Counter
    baseline_rss: int
    peak_rss: int
    bound: int
    peak_measured_by: str
    bystander: dict
    cut_off_s: list[float] = field(default_factory=list)  # slow bodies: seconds until the service answered

    def problems(self, body_timeout_s: float | None = None) -> list[str]:
        found = [f"peak RSS {self.peak_rss} B over the bound {self.bound} B"] if self.peak_rss > self.bound else []
        found += [f"{count} x {answer}" for answer, count in self.answers.items()
                  if answer.startswith("5") or not answer[:1].isdigit()]
        found += [f"bystander {count} x {answer}" for answer, count in self.bystander["answers"].items()
                  if not answer.endswith(" 200")]
        if body_timeout_s is not None:
            found += [f"slow body answered {count} x {answer}, not 408 body_timeout"
                      for answer, count in self.answers.items() if answer != "408 body_timeout"]
        return found

    def as_json(self) -> dict:
        return {**vars(self), "answers": dict(self.answers)}


def _summary(bystander: Bystander) -> dict:
    def ms(samples: list[float]) -> dict:
        return {"count": len(samples), "p50_ms": round(1000 * statistics.median(samples), 1) if samples else None,
                "max_ms": round(1000 * max(samples), 1) if samples else None}

    return {"health": ms(bystander.health_s), "verify": ms(bystander.verify_s), "answers": dict(bystander.answers)}


def _under_attack(name: str, memory: PeakMemory, bound: int, base: str, pair: tuple[bytes, bytes],
                  attack: Callable[[], tuple[Counter, list[float]]]) -> AttackResult:
    baseline = memory.rss()
    bystander, stop = Bystander(base, pair), threading.Event()
    watcher = threading.Thread(target=bystander.run, args=(stop,), daemon=True)
    memory.start()
    t0 = time.perf_counter()
    watcher.start()
    answers, cut_off = attack()
    stop.set()
    watcher.join()
    seconds = time.perf_counter() - t0
    peak = memory.stop()
    return AttackResult(name, round(seconds, 1), answers, baseline, peak, bound,
                        "VmHWM" if memory.reset else "VmRSS polled every 10 ms", _summary(bystander), cut_off)


def _concurrently(clients: int, call: Callable[[int], str]) -> Counter:
    """`clients` threads started together, each calling `call(i)` once; their answers counted."""
    answers: Counter = Counter()
    lock, barrier = threading.Lock(), threading.Barrier(clients)

    def one(i: int) -> None:
        barrier.wait()
        answer = call(i)
        with lock:
            answers[answer] += 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _post_identify(client: httpx.Client, image: bytes) -> str:
    try:
        return _answer(client.post("/v1/identify", files={"image": ("p.jpg", image, "image/jpeg")}))
    except httpx.TransportError as error:
        return type(error).__name__


@dataclass
class HostileRun:
    settings: dict  # the limits the service ran with
    clients: int
    attacks: list[AttackResult]

    def problems(self) -> list[str]:
        timeout = self.settings["body_timeout_s"]
        return [f"{a.name}: {p}" for a in self.attacks
                for p in a.problems(timeout if a.name == "slow bodies" else None)]


def run(workdir: Path, settings: Settings, clients: int = 32, rounds: int = 3, max_image_bytes: int = 10 * MiB,
        max_image_pixels: int = 250 * 250, body_timeout_s: float = 10.0, trickle_s: float = 0.5,
        decodes: int = 2) -> HostileRun:
    """Both attacks against one `facever serve`; max_image_pixels defaults to the size of an LFW photo, so the
    bound's pixel term is that of the photos sent."""
    people = lfw_candidates()
    photos = [images[0].read_bytes() for _, images in people[:clients]]
    pair = (people[0][1][0].read_bytes(), people[0][1][1].read_bytes())
    port, log = free_port(), workdir / "service.log"
    env = {"FACEVER_MODELS_DIR": str(settings.models_dir), "FACEVER_EMBEDDER": settings.embedder,
           "FACEVER_DATABASE_URL": f"sqlite:///{workdir / 'facever.db'}", "FACEVER_API_KEYS": f"admin:{ADMIN_KEY}",
           "FACEVER_MAX_IMAGE_BYTES": str(max_image_bytes), "FACEVER_MAX_IMAGE_PIXELS": str(max_image_pixels),
           "FACEVER_BODY_TIMEOUT": str(body_timeout_s), "FACEVER_CONCURRENT_DECODES": str(decodes)}
    base = f"http://127.0.0.1:{port}"
    proc = start_service(port, env, log)
    try:
        wait_ready(proc, base, log)
        memory = PeakMemory(proc.pid)
        with httpx.Client(base_url=base, headers={"X-API-Key": ADMIN_KEY}, timeout=REQUEST_TIMEOUT_S) as client:
            _concurrently(clients, lambda i: _post_identify(client, photos[i % len(photos)]))  # warm-up
            bound = memory_bound(memory.rss(), max_image_bytes, max_image_pixels, clients, decodes)
            large = [padded(photo, max_image_bytes) for photo in photos]

            def uploads() -> tuple[Counter, list[float]]:
                answers: Counter = Counter()
                for _ in range(rounds):
                    answers += _concurrently(clients, lambda i: _post_identify(client, large[i % len(large)]))
                return answers, []

            attacks = [_under_attack("maximum-size uploads", memory, bound, base, pair, uploads)]
        body, content_type = _multipart(padded(photos[0], max_image_bytes))
        cut_off: list[float] = []

        def slow() -> tuple[Counter, list[float]]:
            def one(_: int) -> str:
                answer, seconds = trickle(port, body, content_type, trickle_s, body_timeout_s + 30)
                cut_off.append(round(seconds, 2))
                return answer

            return _concurrently(clients, one), cut_off

        attacks.append(_under_attack("slow bodies", memory, bound, base, pair, slow))
    finally:
        stop_service(proc)
    limits = {"max_image_bytes": max_image_bytes, "max_image_pixels": max_image_pixels,
              "body_timeout_s": body_timeout_s, "trickle_s": trickle_s, "rounds": rounds, "decodes": decodes}
    return HostileRun(limits, clients, attacks)


# --- report -------------------------------------------------------------------------------------------------


def _mib(size: int) -> str:
    return f"{size / MiB:.0f}"


def _default(name: str):
    return Settings.model_fields[name].default


def section(result: HostileRun) -> str:
    s, rows = result.settings, []
    for a in result.attacks:
        answers = ", ".join(f"{count}× {answer}" for answer, count in sorted(a.answers.items()))
        health, verify = a.bystander["health"], a.bystander["verify"]
        cut = f"{min(a.cut_off_s):.1f} / {max(a.cut_off_s):.1f}" if a.cut_off_s else "–"
        rows.append(f"| {a.name} | {a.seconds} | {answers} | {cut} | {_mib(a.baseline_rss)} | {_mib(a.peak_rss)} | "
                    f"{_mib(a.bound)} | {health['count']}, {health['p50_ms']} / {health['max_ms']} | "
                    f"{verify['count']}, {verify['p50_ms']} / {verify['max_ms']} | {len(a.problems())} |")
    problems = result.problems()
    image_bytes, pixels = _default("max_image_bytes"), _default("max_image_pixels")
    body = BODY_COPIES * body_limit(image_bytes, 1)
    example = memory_bound(0, image_bytes, pixels, result.clients, s["decodes"])
    return f"""## Hostile uploads

What is promised: many maximum-size uploads at once, and bodies sent a byte at a time, neither exhaust the
service's memory nor stop it serving other clients. Every request body must be complete within
`FACEVER_BODY_TIMEOUT` seconds (default {_default("body_timeout"):g}) of the request's arrival, or the service
answers `408` with the error code `body_timeout` and closes the connection; a body larger than the largest any
route takes (an enrolment of {MAX_IMAGES} images of `FACEVER_MAX_IMAGE_BYTES`) is refused with
`413 image_too_large` as soon as it gets there, with or without a `Content-Length`. The OpenAPI document lists
both on every route that reads a body. At most `FACEVER_CONCURRENT_DECODES` images (default: the cores the
service may use) decode at once.

The bound on the service process's resident memory with N uploads of one image in flight, D =
`FACEVER_CONCURRENT_DECODES` and P = `FACEVER_MAX_IMAGE_PIXELS`:

    baseline + N × {BODY_COPIES} × body limit + min(N, D) × {DECODE_PIXEL_BYTES} B × P + min(N, {PIPELINE_THREADS}) × {HELD_PIXEL_BYTES} B × P

- baseline: the service after serving N photos of the attack's size at once (models, their working memory at
  that concurrency, detection's copies of the image shrunk to `FACEVER_DETECTOR_MAX_SIDE`, the index);
- body limit: the route's limit, one image of `FACEVER_MAX_IMAGE_BYTES` as base64 plus 64 KiB; reading a
  body holds at most {BODY_COPIES} copies of it (a JSON body, its base64 string, the decoded image; a multipart
  upload holds less, as files over 1 MiB spool to disk);
- decoding: an image being decoded holds at most {DECODE_PIXEL_BYTES} bytes a pixel (measured: an RGBA PNG with
  an EXIF rotation peaks at 30, a 16-bit grey PNG at 28, RGB at 18), D of them at once;
- decoded images: each request holds its decoded RGB image ({HELD_PIXEL_BYTES} bytes a pixel) until its faces
  are aligned; at most {PIPELINE_THREADS} requests (AnyIO's thread limiter) do that work at once.

With the defaults ({_mib(image_bytes)} MiB, {pixels / 1e6:g} M pixels) and N = {result.clients}, D =
{s["decodes"]}, that is baseline + {_mib(example)} MiB, of which the bodies take N × {_mib(body)} MiB and the
pixel limit the rest: lower `FACEVER_MAX_IMAGE_PIXELS` where photos are known to be small.

How it is tested: `benchmarks/hostile_uploads.py` starts `facever serve` (FACEVER_MAX_IMAGE_BYTES
{_mib(s["max_image_bytes"])} MiB, FACEVER_MAX_IMAGE_PIXELS {s["max_image_pixels"]}, the size of an LFW photo,
FACEVER_BODY_TIMEOUT {s["body_timeout_s"]:g} s, FACEVER_CONCURRENT_DECODES {s["decodes"]}), warms it up with
{result.clients} concurrent identifies of LFW photos, then: **maximum-size uploads**, {result.clients} clients
posting `/v1/identify` at once, each an LFW photo padded to FACEVER_MAX_IMAGE_BYTES, {s["rounds"]} rounds;
**slow bodies**, {result.clients} connections declaring a maximum-size body and sending it a byte every
{s["trickle_s"]:g} s. Meanwhile another client polls `/v1/health` and verifies a photo pair (one after the other,
pausing {BYSTANDER_PAUSE_S} s). Peak memory is the kernel's high-water mark of the service process (`VmHWM`),
reset before each attack; the bound is computed from the baseline after the warm-up. Memory freed after the
uploads stays with the process (the allocator keeps it), hence the slow bodies' higher baseline. A shorter
run is in the test suite (`tests/reliability/test_hostile_uploads.py`).

| attack | seconds | answers | slow bodies cut off after, s (min / max) | baseline MiB | peak MiB | bound MiB | /v1/health: count, p50 / max ms | /v1/verify: count, p50 / max ms | problems |
|---|---:|---|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows)}

Problems found: {"none" if not problems else "; ".join(problems)}.
Measured under `nice -n 19` on {machine()["cores"]} shared cores (load average {load1()} at the end).

Command: `nice -n 19 python benchmarks/hostile_uploads.py --clients {result.clients} --rounds {s["rounds"]} \\
--max-image-mib {_mib(s["max_image_bytes"])} --body-timeout {s["body_timeout_s"]:g} --decodes {s["decodes"]}`
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of maximum-size uploads")
    parser.add_argument("--max-image-mib", type=int, default=10)
    parser.add_argument("--body-timeout", type=float, default=10.0, help="FACEVER_BODY_TIMEOUT for the run, s")
    parser.add_argument("--decodes", type=int, default=len(os.sched_getaffinity(0)), help="FACEVER_CONCURRENT_DECODES")
    args = parser.parse_args()
    settings = Settings(models_dir=ROOT / "models", embedder=Settings.model_fields["embedder"].default)
    with tempfile.TemporaryDirectory() as workdir:
        result = run(Path(workdir), settings, args.clients, args.rounds, args.max_image_mib * MiB,
                     body_timeout_s=args.body_timeout, decodes=args.decodes)
    write_json(NAME, {"machine": machine(), "args": vars(args), "settings": result.settings,
                      "attacks": [a.as_json() for a in result.attacks], "problems": result.problems()})
    replace_section(REPORT, NAME, section(result), "# Reliability\n")
    for problem in result.problems():
        print("  ", problem)
    raise SystemExit(1 if result.problems() else 0)


if __name__ == "__main__":
    main()
