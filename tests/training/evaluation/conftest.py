"""Evaluation fixtures: the service's settings (shipped detector and default embedder), a pipeline and LFW pairs
on them, and the random placeholder embedder for the torch-versus-ONNX check."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import Settings
from service.vision.pipeline import FacePipeline
from tests.conftest import LFW_DIR
from tests.service.conftest import random_embedder_dir, service_settings  # noqa: F401  reused session fixtures
from training.evaluation import PairList, lfw_pairs

PAIRS_TXT = LFW_DIR.parent / "pairs.txt"


@pytest.fixture(scope="session")
def lfw_all_pairs(lfw_dir: Path) -> PairList:
    return lfw_pairs(PAIRS_TXT, lfw_dir)


@pytest.fixture(scope="session")
def pipeline(service_settings: Settings) -> FacePipeline:  # noqa: F811  the fixture, by name
    return FacePipeline.from_settings(service_settings)
