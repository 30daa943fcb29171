"""Shared fixtures: where the real data lives, and the settings tests run with."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import REPO_ROOT

DATA_DIR = Path(REPO_ROOT.parent / "shared" / "data")
LFW_DIR = DATA_DIR / "lfw" / "lfw-deepfunneled"


def lfw_image(name: str, number: int = 1) -> Path:
    """Path of an LFW image, e.g. lfw_image("Aaron_Peirsol", 1)."""
    return LFW_DIR / name / f"{name}_{number:04d}.jpg"


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    if not LFW_DIR.is_dir():
        pytest.fail(f"LFW not found at {LFW_DIR}; tests need ../shared/data beside the checkout")
    return LFW_DIR
