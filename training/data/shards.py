"""The packed dataset on disk: shard-NNNNN.{crops,labels}.npy pairs plus manifest.json, and their checks."""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from service.vision.align import CROP_HEIGHT, CROP_WIDTH, TEMPLATE
from service.vision.embedder import file_sha256

FORMAT = "facever-packed-faces"
VERSION = 1
MANIFEST = "manifest.json"
CROP_SHAPE = (CROP_HEIGHT, CROP_WIDTH, 3)
CROP_BYTES = CROP_HEIGHT * CROP_WIDTH * 3
MAX_SHARD_MB = 64  # a shard travels to the GPU machine in one call, which carries at most 64 MiB
_NPY_HEADER = 128  # np.save's header for these shapes; reserved so a shard file stays within shard_mb
MIB = 1 << 20


def alignment_contract() -> dict[str, Any]:
    """The crop size and template the crops were aligned with; a dataset refuses crops from another contract."""
    return {"height": CROP_HEIGHT, "width": CROP_WIDTH, "template": TEMPLATE.tolist()}


def shard_capacity(shard_mb: float) -> int:
    """How many crops fit in one crops file of at most shard_mb MiB (at least one)."""
    if not 0 < shard_mb < MAX_SHARD_MB:
        raise ValueError(f"shard_mb must be in (0, {MAX_SHARD_MB}), got {shard_mb}")
    return max(1, (int(shard_mb * MIB) - _NPY_HEADER) // CROP_BYTES)


@dataclass(frozen=True)
class Failure:
    """An input image that gave no crop: kind is "unreadable" or "no_face"; item is its input index."""

    item: int
    path: str
    kind: str
    detail: str


@dataclass(frozen=True)
class ShardInfo:
    """One written shard: its crop count, the input cursor after it (for resuming) and file digests."""

    name: str
    count: int
    next_item: int
    crops_sha256: str
    labels_sha256: str

    def files(self, data_dir: Path) -> tuple[Path, Path]:
        return data_dir / f"{self.name}.crops.npy", data_dir / f"{self.name}.labels.npy"


@dataclass
class Manifest:
    """Everything needed to read, check and resume a packed dataset; labels index `identities`."""

    identities: list[str]
    settings: dict[str, Any]
    inputs: dict[str, Any]
    alignment: dict[str, Any] = field(default_factory=alignment_contract)
    shards: list[ShardInfo] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    complete: bool = False
    format: str = FORMAT
    version: int = VERSION

    @property
    def cursor(self) -> int:
        """Index of the first input item not yet covered by a written shard."""
        return self.shards[-1].next_item if self.shards else 0

    @property
    def images(self) -> int:
        return sum(shard.count for shard in self.shards)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw = json.loads(text)
        if raw.get("format") != FORMAT or raw.get("version") != VERSION:
            raise ValueError(f"not a {FORMAT} v{VERSION} manifest (format={raw.get('format')!r}, "
                             f"version={raw.get('version')!r})")
        raw["shards"] = [ShardInfo(**s) for s in raw["shards"]]
        raw["failures"] = [Failure(**f) for f in raw["failures"]]
        return cls(**raw)


def read_manifest(data_dir: Path) -> Manifest:
    return Manifest.from_json((Path(data_dir) / MANIFEST).read_text())


def write_manifest(data_dir: Path, manifest: Manifest) -> None:
    _atomic_write(Path(data_dir) / MANIFEST, manifest.to_json().encode())


def write_shard(data_dir: Path, index: int, crops: np.ndarray, labels: np.ndarray, next_item: int) -> ShardInfo:
    """Write one shard's two .npy files (atomically) and describe it; np.save output is byte-deterministic."""
    if crops.dtype != np.uint8 or crops.shape[1:] != CROP_SHAPE or labels.shape != (len(crops),):
        raise ValueError(f"bad shard arrays: crops {crops.dtype}{crops.shape}, labels {labels.shape}")
    blobs = [_npy_bytes(crops), _npy_bytes(labels.astype(np.int32))]
    info = ShardInfo(f"shard-{index:05d}", len(crops), next_item, *(hashlib.sha256(b).hexdigest() for b in blobs))
    for path, blob in zip(info.files(Path(data_dir)), blobs, strict=True):
        _atomic_write(path, blob)
    return info


def load_shard(data_dir: Path, shard: ShardInfo, *, mmap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    crops_path, labels_path = shard.files(Path(data_dir))
    return np.load(crops_path, mmap_mode="r" if mmap else None), np.load(labels_path)


def shard_ok(data_dir: Path, shard: ShardInfo) -> bool:
    """True when both files of the shard exist with the digests the manifest recorded."""
    crops_path, labels_path = shard.files(Path(data_dir))
    return (crops_path.is_file() and labels_path.is_file()
            and file_sha256(crops_path) == shard.crops_sha256 and file_sha256(labels_path) == shard.labels_sha256)


def verify_shards(data_dir: Path) -> None:
    """Check every shard file against the manifest's sha256; raises ValueError naming the bad shards."""
    manifest = read_manifest(data_dir)
    bad = [shard.name for shard in manifest.shards if not shard_ok(data_dir, shard)]
    if bad:
        raise ValueError(f"{len(bad)} shard(s) in {data_dir} are missing or do not match the manifest: {bad}")


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _atomic_write(path: Path, data: bytes) -> None:
    # write-then-rename so an interrupted run never leaves a half-written file under the final name
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
