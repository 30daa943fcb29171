"""Aligned face crops as JPEG: what enrolment stores, and what verify and identify return when asked."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

_QUALITY = 90  # a 112x96 crop is ~4 KB at this quality and re-embeds without visible loss


def crop_jpeg(crop: np.ndarray) -> bytes:
    """The HxWx3 uint8 RGB crop as JPEG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(crop).save(buffer, format="JPEG", quality=_QUALITY)
    return buffer.getvalue()


def crop_data_url(crop: np.ndarray) -> str:
    """The crop as a `data:image/jpeg;base64,...` URL, ready for an <img src>."""
    return "data:image/jpeg;base64," + base64.b64encode(crop_jpeg(crop)).decode("ascii")
