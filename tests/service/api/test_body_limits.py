"""Every request body is bounded in time (408 body_timeout) and in bytes (413 image_too_large), whichever route
reads it, and with or without a Content-Length. The real-socket version, under load, is in
tests/reliability/test_hostile_uploads.py."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.api.routes.faces import MAX_IMAGES
from service.api.uploads import body_limit
from service.app import create_app
from service.config import Settings
from tests.service.api.conftest import ADMIN_KEY
from tests.service.api.helpers import assert_error, lfw

BODY_TIMEOUT_S = 0.5
MAX_IMAGE_BYTES = 50_000


def _client(gallery_settings: Settings, body_timeout: float) -> Iterator[TestClient]:
    settings = gallery_settings.model_copy(update={"body_timeout": body_timeout, "max_image_bytes": MAX_IMAGE_BYTES})
    with TestClient(create_app(settings), headers={"X-API-Key": ADMIN_KEY}) as client:
        yield client


@pytest.fixture(scope="module")
def bounded(gallery_settings: Settings) -> Iterator[TestClient]:
    yield from _client(gallery_settings, BODY_TIMEOUT_S)


@pytest.fixture(scope="module")
def size_bounded(gallery_settings: Settings) -> Iterator[TestClient]:
    """Bounded in bytes only, in effect: streaming megabytes must not race a 0.5 s timeout on a busy machine."""
    yield from _client(gallery_settings, 60.0)


def _stalled(*parts: bytes) -> Iterator[bytes]:
    """A chunked body that stops for longer than the body timeout after its first part."""
    yield parts[0]
    time.sleep(2 * BODY_TIMEOUT_S)
    yield from parts[1:]


def _multipart(image: bytes) -> tuple[bytes, bytes, dict[str, str]]:
    boundary = "body-limits"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n").encode()
    return head + image[:100], image[100:] + f"\r\n--{boundary}--\r\n".encode(), {
        "content-type": f"multipart/form-data; boundary={boundary}"}


def test_a_stalled_upload_gets_408(bounded: TestClient) -> None:
    first, rest, headers = _multipart(lfw("Hans_Blix", 7))
    response = bounded.post("/v1/identify", content=_stalled(first, rest), headers=headers)
    error = assert_error(response, 408, "body_timeout")["error"]
    assert "FACEVER_BODY_TIMEOUT" in error["message"]
    assert response.headers["connection"] == "close"  # else the server would go on reading the trickle


def test_a_refusal_before_the_body_is_read_closes_the_connection(bounded: TestClient) -> None:
    oversized = b" " * (2 * body_limit(MAX_IMAGE_BYTES, 1))  # refused from its Content-Length, unread
    response = bounded.post("/v1/identify", content=oversized, headers={"content-type": "application/json"})
    assert_error(response, 413, "image_too_large")
    assert response.headers["connection"] == "close"


def test_answers_to_bodies_read_whole_and_to_bodiless_requests_keep_the_connection(bounded: TestClient) -> None:
    assert "connection" not in bounded.get("/v1/identities").headers
    response = bounded.post("/v1/identities", json={"name": "Kept Alive"})
    assert response.status_code == 201 and "connection" not in response.headers


@pytest.mark.parametrize("route", ["/v1/identities", "/v1/identify"])
def test_a_stalled_json_body_gets_408_and_writes_nothing(bounded: TestClient, route: str) -> None:
    before = bounded.get("/v1/identities").json()["total"]
    response = bounded.post(route, content=_stalled(b'{"name": "Sl', b'ow"}'),
                            headers={"content-type": "application/json"})
    assert_error(response, 408, "body_timeout")
    assert bounded.get("/v1/identities").json()["total"] == before


@pytest.mark.parametrize("route", ["/v1/identities", "/v1/identify", "/v1/verify"])
def test_a_chunked_body_over_the_largest_limit_gets_413_and_writes_nothing(size_bounded: TestClient,
                                                                          route: str) -> None:
    largest = body_limit(MAX_IMAGE_BYTES, MAX_IMAGES)
    chunk = b" " * 65536
    endless = (chunk for _ in range(largest // len(chunk) + 2))  # no Content-Length: refused while it streams
    before = size_bounded.get("/v1/identities").json()["total"]
    response = size_bounded.post(route, content=endless, headers={"content-type": "application/json"})
    error = assert_error(response, 413, "image_too_large")["error"]
    assert str(largest) in error["message"]
    assert size_bounded.get("/v1/identities").json()["total"] == before


def test_a_body_in_time_and_in_size_is_served(bounded: TestClient) -> None:
    first, rest, headers = _multipart(lfw("Hans_Blix", 7))
    response = bounded.post("/v1/identify", content=iter([first, rest]), headers=headers)
    assert response.status_code == 200, response.text
