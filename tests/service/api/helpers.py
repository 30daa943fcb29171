"""Shared helpers of the API tests: coded-error assertions and test images built from LFW."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from service.config import REPO_ROOT
from tests.conftest import lfw_image


def assert_error(response, status: int, code: str) -> dict:
    """The response is the error envelope with this status and code, carrying its request id."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def lfw(name: str, number: int = 1) -> bytes:
    return lfw_image(name, number).read_bytes()


def side_by_side(*images: bytes) -> bytes:
    """A real several-face photo: LFW images pasted next to each other."""
    arrays = [np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) for data in images]
    return png(np.concatenate(arrays, axis=1))


def shrunk(data: bytes) -> bytes:
    """The LFW photo shrunk so that its face is detectable but under the 40 px quality minimum."""
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).resize((70, 70)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


GREY = png(np.full((200, 200, 3), 128, np.uint8))


def start_serve(port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    """`facever serve` on 127.0.0.1:`port` with `env` added, its output in `log`. It runs through `python -c`, so
    this checkout's code serves, whatever is installed."""
    command = [sys.executable, "-c", "from service.cli import app; app()", "serve", "--port", str(port)]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=REPO_ROOT, env=os.environ | env, stdout=out, stderr=subprocess.STDOUT)
