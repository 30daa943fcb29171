"""The packed dataset on disk: shard-NNNNN.{crops,labels}.npy pairs plus manifest.json, and their checks.

A shard may also carry the teacher's inputs (`facever distill`): shard-NNNNN.loose.npy, each face's loose
square crop (N, L, L, 3) uint8, and shard-NNNNN.boxes.npy, its MTCNN box in that crop's pixels (N, 4) float32.
"""

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
from service.vision.file_hash import file_sha256

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


def shard_capacity(shard_mb: float, item_bytes: int = CROP_BYTES) -> int:
    """How many faces fit when each shard file holds at most shard_mb MiB and the largest item is item_bytes."""
    if not 0 < shard_mb < MAX_SHARD_MB:
        raise ValueError(f"shard_mb must be in (0, {MAX_SHARD_MB}), got {shard_mb}")
    return max(1, (int(shard_mb * MIB) - _NPY_HEADER) // item_bytes)


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
    loose_sha256: str | None = None  # the teacher's inputs, when prepared with them
    boxes_sha256: str | None = None

    def files(self, data_dir: Path) -> tuple[Path, Path]:
        return data_dir / f"{self.name}.crops.npy", data_dir / f"{self.name}.labels.npy"

    def teacher_files(self, data_dir: Path) -> tuple[Path, Path]:
        return data_dir / f"{self.name}.loose.npy", data_dir / f"{self.name}.boxes.npy"

    def all_files(self, data_dir: Path) -> list[tuple[Path, str]]:
        """Every file of the shard with the sha256 the manifest recorded for it."""
        pairs = list(zip(self.files(data_dir), (self.crops_sha256, self.labels_sha256), strict=True))
        if self.loose_sha256 is not None and self.boxes_sha256 is not None:
            pairs += zip(self.teacher_files(data_dir), (self.loose_sha256, self.boxes_sha256), strict=True)
        return pairs


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
    atomic_write(Path(data_dir) / MANIFEST, manifest.to_json().encode())


def write_shard(data_dir: Path, index: int, crops: np.ndarray, labels: np.ndarray, next_item: int,
                loose: np.ndarray | None = None, boxes: np.ndarray | None = None) -> ShardInfo:
    """Write one shard's .npy files (atomically) and describe it; np.save output is byte-deterministic.

    loose (N, L, L, 3) uint8 and boxes (N, 4) float32, the teacher's inputs, are written when given.
    """
    if crops.dtype != np.uint8 or crops.shape[1:] != CROP_SHAPE or labels.shape != (len(crops),):
        raise ValueError(f"bad shard arrays: crops {crops.dtype}{crops.shape}, labels {labels.shape}")
    blobs = [npy_bytes(crops), npy_bytes(labels.astype(np.int32))]
    if loose is not None and boxes is not None:
        if loose.dtype != np.uint8 or loose.ndim != 4 or len(loose) != len(crops) or boxes.shape != (len(crops), 4):
            raise ValueError(f"bad teacher arrays: loose {loose.dtype}{loose.shape}, boxes {boxes.shape}")
        blobs += [npy_bytes(loose), npy_bytes(boxes.astype(np.float32))]
    info = ShardInfo(f"shard-{index:05d}", len(crops), next_item, *(hashlib.sha256(b).hexdigest() for b in blobs))
    for (path, _), blob in zip(info.all_files(Path(data_dir)), blobs, strict=True):
        atomic_write(path, blob)
    return info


def load_shard(data_dir: Path, shard: ShardInfo, *, mmap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    crops_path, labels_path = shard.files(Path(data_dir))
    return np.load(crops_path, mmap_mode="r" if mmap else None), np.load(labels_path)


def load_teacher_inputs(data_dir: Path, shard: ShardInfo) -> tuple[np.ndarray, np.ndarray]:
    """The shard's loose crops (N, L, L, 3) uint8 and boxes (N, 4) float32; ValueError when it has none."""
    if shard.loose_sha256 is None:
        raise ValueError(f"{shard.name} in {data_dir} holds no loose crops for a teacher; prepare it again")
    loose_path, boxes_path = shard.teacher_files(Path(data_dir))
    return np.load(loose_path, mmap_mode="r"), np.load(boxes_path)


def shard_ok(data_dir: Path, shard: ShardInfo) -> bool:
    """True when every file of the shard exists with the digest the manifest recorded."""
    return all(path.is_file() and file_sha256(path) == digest for path, digest in shard.all_files(Path(data_dir)))


def verify_shards(data_dir: Path) -> None:
    """Check every shard file against the manifest's sha256; raises ValueError naming the bad shards."""
    manifest = read_manifest(data_dir)
    bad = [shard.name for shard in manifest.shards if not shard_ok(data_dir, shard)]
    if bad:
        raise ValueError(f"{len(bad)} shard(s) in {data_dir} are missing or do not match the manifest: {bad}")


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def atomic_write(path: Path, data: bytes) -> None:
    # write-then-rename so an interrupted run never leaves a half-written file under the final name
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
