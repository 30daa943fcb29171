"""At most FACEVER_CONCURRENT_DECODES images decode at once, however many requests run: each decode briefly holds
tens of bytes a pixel, so the memory of decodes in flight stays bounded (docs/reliability.md, Hostile uploads)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.config import Settings
from service.vision import pipeline as pipeline_module
from service.vision.image_io import decode_image
from service.vision.pipeline import FacePipeline
from tests.service.api.helpers import lfw

SLOTS = 2


def test_no_more_images_decode_at_once_than_the_slots(service_settings: Settings,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = FacePipeline.from_settings(service_settings.model_copy(update={"concurrent_decodes": SLOTS}),
                                          with_embedder=False)
    lock, in_flight, most = threading.Lock(), [0], [0]

    def counted(data: bytes, limits) -> np.ndarray:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.05)  # long enough for the other threads to try to decode meanwhile
        try:
            return decode_image(data, limits)
        finally:
            with lock:
                in_flight[0] -= 1

    monkeypatch.setattr(pipeline_module, "decode_image", counted)
    photo = lfw("Hans_Blix", 7)
    with ThreadPoolExecutor(4 * SLOTS) as pool:
        images = list(pool.map(pipeline.decode, [photo] * 4 * SLOTS))
    assert all(image.shape == images[0].shape and image.ndim == 3 for image in images)
    assert 1 <= most[0] <= SLOTS
