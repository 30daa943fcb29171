"""Data fixtures: a tiny per-identity folder of real CelebA crops plus a faceless and a corrupt file, prepared once."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import DATA_DIR
from training.data.prepare import PrepareReport, prepare

CELEBA_FACES = DATA_DIR / "celeba" / "faces"
IDENTITIES = ("00015", "00022", "00047")  # their first three images each hold a detectable face
PER_IDENTITY = 3
BROKEN = "99999_broken"  # an identity whose only file is corrupt: it gets a label but no crop
SHARD_MB = 0.25  # 3 faces (crop + loose crop) per shard, so the 9 faces fill three shards


@pytest.fixture(scope="session")
def source_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not CELEBA_FACES.is_dir():
        pytest.fail(f"CelebA not found at {CELEBA_FACES}; tests need ../shared/data beside the checkout")
    root = tmp_path_factory.mktemp("celeba") / "faces"
    for identity in IDENTITIES:
        (root / identity).mkdir(parents=True)
        for path in sorted((CELEBA_FACES / identity).iterdir())[:PER_IDENTITY]:
            shutil.copy(path, root / identity / path.name)
    cv2.imwrite(str(root / IDENTITIES[-1] / "grey.jpg"), np.full((128, 128, 3), 128, np.uint8))
    (root / IDENTITIES[-1] / "notes.txt").write_text("not an image: ignored")
    (root / BROKEN).mkdir()
    (root / BROKEN / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is no JPEG")
    return root


@pytest.fixture(scope="session")
def prepared(source_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PrepareReport]:
    """The folder prepared with two worker processes: (output dir, report). Tests must not modify it."""
    out = tmp_path_factory.mktemp("packed")
    return out, prepare(source_dir, out, workers=2, shard_mb=SHARD_MB)


def copy_of(data_dir: Path, tmp_path: Path) -> Path:
    """A private copy of a prepared folder that a test may damage."""
    return Path(shutil.copytree(data_dir, tmp_path / "copy"))
