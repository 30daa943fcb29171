"""The teacher's embedding of every face of a packed dataset, computed once and cached beside the shards.

Layout: DATA_DIR/teacher/shard-NNNNN.teacher.npy ((N, 128) float32, unit rows, the shard's order) and
DATA_DIR/teacher/manifest.json, which names the teacher files' sha256 and, per shard, the hashes of the
shard files the vectors were computed from. A cache whose teacher or shards differ from what it records
is stale: `teach` refuses to extend it and `load_teacher_vectors` refuses to read it, saying what differs.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.data.shards import ShardInfo, atomic_write, load_teacher_inputs, npy_bytes, read_manifest, shard_ok
from training.distill.teacher import TEACHER_DIM, DlibTeacher, TeacherFiles

CACHE_DIR = "teacher"
CACHE_MANIFEST = "manifest.json"
FORMAT = "facever-teacher-cache"
CHUNK = 64  # faces per task sent to a worker


class StaleCacheError(ValueError):
    """The cache was computed by another teacher or from other shards than the folder holds now."""


@dataclass
class CacheManifest:
    """What the cached vectors were computed by (teacher file sha256s) and from (per shard, its file hashes)."""

    teacher: dict[str, str]
    shards: dict[str, dict[str, str]] = field(default_factory=dict)
    format: str = FORMAT
    dim: int = TEACHER_DIM


def cache_dir(data_dir: Path) -> Path:
    return Path(data_dir) / CACHE_DIR


def _shard_record(shard: ShardInfo) -> dict[str, str]:
    return {"crops_sha256": shard.crops_sha256, "loose_sha256": shard.loose_sha256 or ""}


def read_cache_manifest(data_dir: Path) -> CacheManifest | None:
    path = cache_dir(data_dir) / CACHE_MANIFEST
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    if raw.get("format") != FORMAT:
        raise StaleCacheError(f"{path} is not a {FORMAT} manifest")
    return CacheManifest(**raw)


def check_cache(data_dir: Path, cache: CacheManifest, teacher_sha256: dict[str, str] | None) -> list[str]:
    """Why the cache does not fit the folder (empty when it does): another teacher, or changed shards.

    Shards the cache does not cover yet are not a misfit here (`teach` fills them; loading refuses them).
    """
    problems = []
    if teacher_sha256 is not None and cache.teacher != teacher_sha256:
        problems.append(f"made by another teacher (cache {cache.teacher}, installed {teacher_sha256})")
    for shard in read_manifest(data_dir).shards:
        recorded = cache.shards.get(shard.name)
        if recorded is not None and recorded != _shard_record(shard):
            problems.append(f"{shard.name} changed since its teacher vectors were computed")
    return problems


def _refuse(data_dir: Path, problems: list[str]) -> None:
    if problems:
        raise StaleCacheError(f"the teacher cache in {cache_dir(data_dir)} is stale: {'; '.join(problems)}. "
                              f"Delete that folder and run `facever distill teach {data_dir}` again.")


_TEACHER: DlibTeacher | None = None  # per worker process


def _init_worker() -> None:
    global _TEACHER
    _TEACHER = DlibTeacher()


def _embed_chunk(task: tuple[str, int, int, str]) -> np.ndarray:
    data_dir, start, stop, name = task
    assert _TEACHER is not None, "worker not initialised"
    shard = next(s for s in read_manifest(Path(data_dir)).shards if s.name == name)
    loose, boxes = load_teacher_inputs(Path(data_dir), shard)
    return _TEACHER.embed(np.asarray(loose[start:stop]), boxes[start:stop])


def teach(data_dir: Path, workers: int = 2) -> CacheManifest:
    """Compute the teacher's vectors of every face in data_dir's shards that the cache lacks.

    Resumable: each finished shard is written (atomically) and recorded in the cache manifest at once, so
    an interrupted run continues from the first shard without vectors. Refuses a stale cache.
    """
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    if not manifest.complete:
        raise ValueError(f"{data_dir} is not completely prepared; finish `facever prepare` first")
    teacher_sha = TeacherFiles.installed().sha256()
    cache = read_cache_manifest(data_dir) or CacheManifest(teacher=teacher_sha)
    _refuse(data_dir, check_cache(data_dir, cache, teacher_sha))
    todo = [shard for shard in manifest.shards if shard.name not in cache.shards]
    out = cache_dir(data_dir)
    out.mkdir(exist_ok=True)
    if not todo:
        return cache
    for shard in todo:
        if not shard_ok(data_dir, shard):
            raise ValueError(f"{shard.name} in {data_dir} does not match its manifest; prepare the folder again")
    total = sum(shard.count for shard in todo)
    with (mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool,
          tqdm(total=total, unit="face", desc="teacher", smoothing=0.05) as bar):
        for shard in todo:
            tasks = [(str(data_dir), i, min(i + CHUNK, shard.count), shard.name) for i in range(0, shard.count, CHUNK)]
            parts = []
            for part in pool.imap(_embed_chunk, tasks):
                parts.append(part)
                bar.update(len(part))
            vectors = np.concatenate(parts).astype(np.float32)
            atomic_write(out / f"{shard.name}.teacher.npy", npy_bytes(vectors))
            cache.shards[shard.name] = _shard_record(shard)
            atomic_write(out / CACHE_MANIFEST, (json.dumps(asdict(cache), indent=1) + "\n").encode())
    return cache


def load_teacher_vectors(data_dir: Path, teacher_sha256: dict[str, str] | None = None) -> np.ndarray:
    """(N, 128) float32 teacher vectors of every face of data_dir, in the order of its shards.

    teacher_sha256: the teacher files the caller expects (None: accept the cache's own record, e.g. on a
    machine without the teacher installed). Raises StaleCacheError for a missing, partial or stale cache.
    """
    data_dir = Path(data_dir)
    cache = read_cache_manifest(data_dir)
    if cache is None:
        raise StaleCacheError(f"{data_dir} has no teacher cache; run `facever distill teach {data_dir}`")
    _refuse(data_dir, check_cache(data_dir, cache, teacher_sha256))
    shards = read_manifest(data_dir).shards
    missing = [shard.name for shard in shards if shard.name not in cache.shards]
    if missing:
        raise StaleCacheError(f"the teacher cache of {data_dir} lacks {len(missing)} shard(s) (from {missing[0]}); "
                              f"run `facever distill teach {data_dir}` to finish it")
    vectors = [np.load(cache_dir(data_dir) / f"{shard.name}.teacher.npy") for shard in shards]
    return np.concatenate(vectors) if vectors else np.zeros((0, cache.dim), np.float32)
