"""Vision fixtures: real LFW crops (random_embedder_dir comes from tests/service/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import lfw_image

LFW_NAMES = ("Aaron_Eckhart", "Aaron_Peirsol", "Abdullah_Gul", "Serena_Williams", "Aaron_Peirsol")
LFW_NUMBERS = (1, 1, 1, 1, 3)  # the last is a second photo of Aaron_Peirsol


def centre_crop(path: Path) -> np.ndarray:
    """A 112x96 RGB centre crop of a 250x250 LFW image, standing in for an aligned face."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {path}"
    h, w = bgr.shape[:2]
    ch, cw = int(h * 0.56), int(w * 0.48)  # the central face box keeps the 112:96 aspect ratio
    top, left = (h - ch) // 2, (w - cw) // 2
    box = bgr[top:top + ch, left:left + cw]
    return cv2.cvtColor(cv2.resize(box, (96, 112), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def lfw_crops(lfw_dir: Path) -> np.ndarray:
    """(5, 112, 96, 3) uint8 RGB crops: four people, the fifth a second photo of the second."""
    return np.stack([centre_crop(lfw_image(n, k)) for n, k in zip(LFW_NAMES, LFW_NUMBERS, strict=True)])
