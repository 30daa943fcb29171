"""Per-identity image folders -> one sorted list of (image, identity) inputs, merging several sources."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})


@dataclass(frozen=True)
class Item:
    """One input image: its file, its name in the dataset (identity/file) and its label."""

    path: Path
    name: str
    label: int


@dataclass(frozen=True)
class Inputs:
    """All inputs in their fixed order, and the identity names their labels index."""

    identities: list[str]
    items: list[Item]

    def fingerprint(self) -> str:
        """sha256 over names and file sizes: a resumed run must see the same inputs."""
        digest = hashlib.sha256()
        for item in self.items:
            digest.update(f"{item.name}\t{item.path.stat().st_size}\n".encode())
        return digest.hexdigest()


def source_prefixes(src_dirs: Sequence[Path]) -> list[str]:
    """Names that tell the sources apart: "" for one source, else the shortest distinct path tails.

    celeba/faces and cacd/faces share the folder name, so they become "celeba/faces" and "cacd/faces".
    """
    resolved = [Path(src).resolve() for src in src_dirs]
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"a source folder is given twice: {[str(p) for p in src_dirs]}")
    if len(resolved) == 1:
        return [""]
    for depth in range(1, max(len(p.parts) for p in resolved) + 1):
        tails = ["/".join(p.parts[-depth:]) for p in resolved]
        if len(set(tails)) == len(tails):
            return tails
    raise AssertionError("distinct resolved paths always have distinct tails")


def list_inputs(src_dirs: Sequence[Path], min_images_per_identity: int = 1) -> Inputs:
    """Every image of src/<identity>/ in sorted order; identities with fewer images are left out."""
    per_identity: list[tuple[str, list[Path]]] = []
    for src, prefix in zip(src_dirs, source_prefixes(src_dirs), strict=True):
        if not Path(src).is_dir():
            raise FileNotFoundError(f"source folder {src} does not exist")
        for folder in sorted(p for p in Path(src).iterdir() if p.is_dir() and not p.name.startswith(".")):
            files = sorted(p for p in folder.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
            if len(files) >= max(1, min_images_per_identity):
                per_identity.append((f"{prefix}/{folder.name}" if prefix else folder.name, files))
    items = [Item(path, f"{identity}/{path.name}", label)
             for label, (identity, files) in enumerate(per_identity) for path in files]
    return Inputs([identity for identity, _ in per_identity], items)
