"""Distillation fixtures: the data tests' tiny packed folder with its teacher cache, computed once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.training.data.conftest import prepared, source_dir  # noqa: F401  (fixtures used here)
from training.data.prepare import PrepareReport
from training.distill.cache import teach


@pytest.fixture(scope="session")
def taught(prepared: tuple[Path, PrepareReport], tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A copy of the tiny packed folder (9 faces, 3 shards) with the teacher's vectors. Tests must not modify it."""
    data = Path(shutil.copytree(prepared[0], tmp_path_factory.mktemp("taught") / "packed"))
    teach(data, workers=1)
    return data
