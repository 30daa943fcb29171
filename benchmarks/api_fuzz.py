"""API fuzzing: schemathesis against facever's own OpenAPI document, auth on, over real HTTP.

Starts `facever serve` on a free port (a fresh SQLite database in a temporary folder, the shipped models, one
admin and one client key) and runs `st run` against it once per pass, every phase each time (examples,
coverage, fuzzing, and the stateful phase that follows the document's OpenAPI links):

  admin, face photos    valid requests whose image fields carry real LFW face photos (benchmarks/api_fuzz_hooks.py)
  client, face photos   the same with the client key: admin routes must answer 403
  admin, any bytes      valid and invalid requests whose image fields carry photos cut short or random bytes

Every check runs (`--checks all`) but one per pass, each excluded below with the reason.

Cases tried and failures come from schemathesis's JSON report; requests and 5xx answers from the server's
access log. tests/service/api/test_api_fuzz.py runs a short deterministic version.

Usage: python benchmarks/api_fuzz.py [--minutes-per-pass 4] [--seed 0] [--photos 12]
Writes benchmarks/results/api_fuzz.json and the "API fuzzing" section of docs/reliability.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import ROOT, machine, write_json
from benchmarks.scale_out import Server, running, service_env
from benchmarks.service_latency import LFW_DIR, free_port
from service.config import Settings
from service.errors import FaceverError
from service.vision.pipeline import FacePipeline
from training.doc_sections import replace_section

NAME = "api_fuzz"
REPORT = ROOT / "docs" / "reliability.md"
REPORT_HEADER = "# Reliability\n"
CONFIG = Path(__file__).with_suffix(".toml")
HOOKS = "benchmarks.api_fuzz_hooks"
PHOTOS_ENV, IMAGES_ENV = "API_FUZZ_PHOTOS", "API_FUZZ_IMAGES"  # read by the hooks module
# the image encodings the API documents (multipart parts declare them), each written per photo by its extension
ENCODINGS = {"jpg": None, "png": {"format": "PNG"}, "webp": {"format": "WEBP", "lossless": True},
             "bmp": {"format": "BMP"}}
_ACCESS_LINE = re.compile(r'"[A-Z]+ \S+ HTTP/[\d.]+" (\d{3})')


@dataclass(frozen=True)
class Pass:
    name: str
    role: str  # whose key the requests carry: admin or client
    images: str  # what image fields carry (benchmarks/api_fuzz_hooks.py): photos or any-bytes
    mode: str  # schemathesis's generation mode: positive (valid requests only) or all (valid and invalid)
    exclude_checks: tuple[str, ...] = ()


# Valid requests only in the photo passes: schemathesis fills a list field (enrolment's `images`) from the image
# strategies even in an invalid case, which makes the case valid while it still counts as invalid, and it labels
# some valid enrolment cases invalid with no mutation at all. So negative_data_rejection, which wants every
# invalid case refused, has nothing true to check there; the any-bytes pass, whose images are never whole photos,
# runs it on invalid requests that stay invalid.
_PHOTO_EXCLUSIONS = ("negative_data_rejection",)
PASSES = (
    Pass("admin, face photos", "admin", images="photos", mode="positive", exclude_checks=_PHOTO_EXCLUSIONS),
    Pass("client, face photos", "client", images="photos", mode="positive", exclude_checks=_PHOTO_EXCLUSIONS),
    # Damaged and random bytes fit an image field's type (format: binary / byte) but are no photo with a face;
    # the document says they are refused (400 invalid_image, 415 unsupported_format, 422 no_face), so
    # positive_data_acceptance, which wants a 2xx for anything of the right type, cannot apply here. The photo
    # passes run it; this pass runs every other check on valid and invalid requests.
    Pass("admin, any bytes", "admin", images="any-bytes", mode="all", exclude_checks=("positive_data_acceptance",)),
)


@dataclass
class PassResult:
    name: str
    command: str  # keys redacted
    exit_code: int
    seconds: float
    cases: int  # test cases schemathesis generated and sent
    failures: int  # cases that failed a check
    unique_failures: int
    errors: int  # schemathesis's own errors (e.g. a schema it cannot generate from)
    failure_kinds: list[str]  # "ST202 Schema-valid request rejected: POST /v1/verify"
    phases: dict[str, str]  # phase -> success / failure / error / skip
    requests: int  # from the server's access log
    server_errors: int  # 5xx answers in the access log

    @property
    def clean(self) -> bool:
        return self.exit_code == 0 and not (self.failures or self.errors or self.server_errors)


# --- inputs -------------------------------------------------------------------------------------------


def write_photos(folder: Path, count: int, settings: Settings) -> list[str]:
    """The first `count` LFW people (by name) whose first photo has exactly one face passing the quality gate in
    every encoding, written as <n>.<ext>; returns their names."""
    pipeline = FacePipeline.from_settings(settings, with_embedder=False)
    folder.mkdir(parents=True, exist_ok=True)
    chosen: list[str] = []
    for person in sorted(path for path in LFW_DIR.iterdir() if path.is_dir()):
        if len(chosen) == count:
            break
        encoded = _encodings((person / f"{person.name}_0001.jpg").read_bytes())
        if all(_one_usable_face(pipeline, data) for data in encoded.values()):
            for extension, data in encoded.items():
                (folder / f"{len(chosen)}.{extension}").write_bytes(data)
            chosen.append(person.name)
    if len(chosen) < count:
        raise SystemExit(f"only {len(chosen)} usable LFW photos in {LFW_DIR}")
    return chosen


def _encodings(jpeg: bytes) -> dict[str, bytes]:
    rgb = Image.open(io.BytesIO(jpeg)).convert("RGB")
    encoded = {}
    for extension, options in ENCODINGS.items():
        if options is None:
            encoded[extension] = jpeg
            continue
        buffer = io.BytesIO()
        rgb.save(buffer, **options)
        encoded[extension] = buffer.getvalue()
    return encoded


def _one_usable_face(pipeline: FacePipeline, data: bytes) -> bool:
    try:
        return len(pipeline.usable_faces(pipeline.decode(data))) == 1
    except FaceverError:
        return False


# --- passes -------------------------------------------------------------------------------------------


def st_command(base: str, key: str, fuzz_pass: Pass, report: Path, *, max_examples: int, seed: int | None,
               max_time: float | None) -> list[str]:
    """`st run` for one pass: all checks (less the pass's exclusions), all phases, one worker.

    No seed: deterministic generation (the same cases every run); a seed: random generation from it.
    """
    st = str(Path(sys.executable).parent / "st")
    command = [st, "--config-file", str(CONFIG), "--no-color", "run", f"{base}/openapi.json",
               "--header", f"X-API-Key: {key}", "--checks", "all", "--mode", fuzz_pass.mode, "--workers", "1",
               "--max-examples", str(max_examples), "--report", "json", "--report-json-path", str(report)]
    if fuzz_pass.exclude_checks:
        command += ["--exclude-checks", ",".join(fuzz_pass.exclude_checks)]
    # no example database either way: each run starts from its seed alone
    command += ["--generation-deterministic"] if seed is None else ["--seed", str(seed), "--generation-database",
                                                                     "none"]
    if max_time is not None:
        command += ["--max-time", str(round(max_time))]
    return command


def pass_files(workdir: Path, name: str) -> tuple[Path, Path]:
    """Where a pass leaves schemathesis's JSON report and its printed output."""
    slug = re.sub(r"\W+", "-", name)
    return workdir / f"{slug}.json", workdir / f"{slug}.txt"


def run_pass(base: str, key: str, fuzz_pass: Pass, photos: Path, workdir: Path, server_log: Path, *,
             max_examples: int, seed: int | None, max_time: float | None) -> PassResult:
    report, output = pass_files(workdir, fuzz_pass.name)
    command = st_command(base, key, fuzz_pass, report, max_examples=max_examples, seed=seed, max_time=max_time)
    env = os.environ | {"PYTHONPATH": str(ROOT), "SCHEMATHESIS_HOOKS": HOOKS,
                        PHOTOS_ENV: str(photos), IMAGES_ENV: fuzz_pass.images}
    log_start = server_log.stat().st_size
    t0 = time.perf_counter()
    with output.open("wb") as out:  # cwd: schemathesis may leave files behind, never in the checkout
        finished = subprocess.run(command, check=False, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    exit_code = finished.returncode
    seconds = time.perf_counter() - t0
    with server_log.open("rb") as log:
        log.seek(log_start)
        statuses = [int(m.group(1)) for m in _ACCESS_LINE.finditer(log.read().decode(errors="replace"))]
    if not report.exists():
        raise SystemExit(f"st wrote no report ({exit_code}):\n{output.read_text(errors='replace')[-4000:]}")
    summary = json.loads(report.read_text())
    cases = summary["test_cases"]
    return PassResult(
        name=fuzz_pass.name, command=_shown(command, env, key, workdir), exit_code=exit_code,
        seconds=round(seconds, 1), cases=cases["generated"], failures=cases["with_failures"],
        unique_failures=cases["unique_failures"], errors=len(summary["errors"]),
        failure_kinds=[f"{f['code']} {f['title']}: {', '.join(f['operations'])}" for f in summary["failures"]],
        phases={name: phase["status"] for name, phase in summary["phases"].items()},
        requests=len(statuses), server_errors=sum(status >= 500 for status in statuses),
    )


def _shown(command: list[str], env: dict[str, str], key: str, workdir: Path) -> str:
    """The command with the hooks' settings, as it can be read elsewhere: no key, and paths relative to the venv,
    the checkout and the workdir."""
    shown = shlex.join([f"{name}={env[name]}" for name in ("SCHEMATHESIS_HOOKS", IMAGES_ENV, PHOTOS_ENV)] + command)
    shown = shown.replace(key, "$KEY")
    for folder in (Path(sys.executable).parent, ROOT, workdir):
        shown = shown.replace(f"{folder}/", "")
    return shown


def fuzz(models_dir: Path, embedder: str, workdir: Path, *, photo_count: int, max_examples: int,
         seed: int | None = None, max_time: float | None = None) -> list[PassResult]:
    """Every pass against one fresh service; each pass's output is left in `workdir` (<pass>.txt, .json)."""
    keys = {"admin": f"fuzz-admin-{secrets.token_urlsafe(24)}", "client": f"fuzz-client-{secrets.token_urlsafe(24)}"}
    settings = Settings(models_dir=models_dir, embedder=embedder)
    photos = workdir / "photos"
    write_photos(photos, photo_count, settings)
    env = service_env(f"sqlite:///{workdir / 'facever.db'}", models_dir, embedder,
                      API_KEYS=",".join(f"{role}:{key}" for role, key in keys.items()))
    server = Server([str(Path(sys.executable).parent / "facever"), "serve", "--host", "127.0.0.1",
                     "--port", str(port := free_port())], env, port)
    with running([server], workdir) as (base,):
        return [run_pass(base, keys[p.role], p, photos, workdir, workdir / "server0.log", max_examples=max_examples,
                         seed=seed, max_time=max_time) for p in PASSES]


# --- report -------------------------------------------------------------------------------------------


def section(results: list[PassResult], args: argparse.Namespace, embedder: str) -> str:
    rows = "\n".join(
        f"| {r.name} | {r.cases} | {r.requests} | {r.failures} | {r.errors} | {r.server_errors} | {r.seconds:.0f} |"
        for r in results)
    found = sorted({kind for r in results for kind in r.failure_kinds}) or ["none"]
    return f"""
## API fuzzing

What is promised: no request, however malformed, gets a 5xx answer; every answer is one the OpenAPI document
describes (its status, its body's schema, its headers); a request the document calls valid is accepted, one
it calls invalid is refused with a coded 4xx; every route but the health probes needs a key (401 without
one), and admin routes refuse the client key (403).

How it is tested: [schemathesis](https://schemathesis.readthedocs.io) generates requests from the service's
own OpenAPI document (`/openapi.json`) and checks every answer with all of its checks (`--checks all`),
through all of its phases: the document's examples, boundary values of every parameter (coverage), random
valid and invalid requests (fuzzing), and sequences that follow the document's links, such as create an
identity, enrol a face, delete the face (stateful). It runs over real HTTP against `facever serve` with a fresh
SQLite gallery, the shipped models (`{embedder}`) and auth on, in three passes:

- **admin, face photos** and **client, face photos**: valid requests only, whose image fields carry real face
  photos ({args.photos} LFW people, each as JPEG, PNG, WebP and BMP, in the media type the part declares), so
  requests the document calls valid really are valid and must be accepted. The client pass sends the client
  key, so admin routes must answer 403. `negative_data_rejection` is left out: with no invalid requests sent,
  the only cases it could judge are ones schemathesis labels invalid although they are valid.
- **admin, any bytes**: valid and invalid requests whose image fields carry photos cut short or random bytes.
  These fit the field's type but are no photo with a face, and the document says they are refused (400
  `invalid_image`, 415 `unsupported_format`, 422 `no_face`), so `positive_data_acceptance`, which expects a
  2xx for anything of the right type, is left out here.

The long run gives each pass {args.minutes_per_pass:g} minutes (`--max-time`), random generation from seed {args.seed},
at most {args.max_examples} cases per operation and phase round, one worker, under `nice -n 19` on
{machine()["cores"]} cores. Cases are schemathesis's generated test cases (each step of a stateful sequence
counts as one); requests and 5xx answers are counted in the server's access log, which also holds the schema
download and schemathesis's first probe.

| pass | cases | requests | failures | schemathesis errors | 5xx | seconds |
|---|---:|---:|---:|---:|---:|---:|
{rows}

Failures found: {"; ".join(found)}.

Command: `nice -n 19 python benchmarks/api_fuzz.py --minutes-per-pass {args.minutes_per_pass:g} --seed {args.seed}`
(`benchmarks/results/{NAME}.json` holds each pass's `st run` command). The test suite runs a short
deterministic version of the same passes (`tests/service/api/test_api_fuzz.py`).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes-per-pass", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-examples", type=int, default=100, help="cases per operation and phase round")
    parser.add_argument("--photos", type=int, default=12, help="LFW people whose photos fill image fields")
    parser.add_argument("--embedder", default=Settings.model_fields["embedder"].default)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        results = fuzz(ROOT / "models", args.embedder, Path(workdir), photo_count=args.photos,
                       max_examples=args.max_examples, seed=args.seed, max_time=args.minutes_per_pass * 60)
    write_json(NAME, {"machine": machine(), "embedder": args.embedder, "args": vars(args),
                      "passes": [asdict(r) for r in results]})
    replace_section(REPORT, NAME, section(results, args, args.embedder), REPORT_HEADER)
    for r in results:
        print(f"{r.name}: {r.cases} cases, {r.requests} requests, {r.failures} failures, {r.errors} errors, "
              f"{r.server_errors} 5xx, exit {r.exit_code}")
    sys.exit(0 if all(r.clean for r in results) else 1)


if __name__ == "__main__":
    main()
