"""The request limit grows with the images a route takes, and a 413 names the limit that applied."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.service.api.helpers import assert_error, lfw

BIG = 6_600_000  # a large phone photo; three of them are more than one 10 MiB image


def _padded(photo: bytes, size: int) -> bytes:
    """A real JPEG grown to `size` bytes: decoders stop at its end-of-image marker and ignore the rest."""
    return photo + b"\0" * (size - len(photo))


def test_three_large_photos_enrol_in_one_request(admin: TestClient) -> None:
    identity = admin.post("/v1/identities", json={"name": "Large Photos"}).json()["id"]
    files = [("images", (f"{n}.jpg", _padded(lfw("Hans_Blix", n), BIG), "image/jpeg")) for n in (7, 8, 9)]
    response = admin.post(f"/v1/identities/{identity}/faces", files=files)
    assert response.status_code == 201, response.text
    assert response.json()["enrolled"] == 3


def test_an_oversized_request_names_the_request_limit(admin: TestClient) -> None:
    response = admin.post("/v1/identify", files={"image": ("a.jpg", _padded(lfw("Hans_Blix", 7), 15_000_000))})
    error = assert_error(response, 413, "image_too_large")["error"]
    assert "request limit" in error["message"] and error["details"]["max_images"] == 1


def test_an_oversized_image_names_the_per_image_limit(admin: TestClient) -> None:
    identity = admin.post("/v1/identities", json={"name": "One Huge Photo"}).json()["id"]
    files = [("images", ("a.jpg", _padded(lfw("Hans_Blix", 7), 11 * 1024 * 1024), "image/jpeg"))]
    error = assert_error(admin.post(f"/v1/identities/{identity}/faces", files=files), 413, "image_too_large")["error"]
    assert "per-image limit of 10485760 bytes" in error["message"]
