"""Two app instances (as two workers) on one database see each other's enrolments and deletes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.service.api.conftest import ADMIN_KEY
from tests.service.api.helpers import lfw

PHOTO = lfw("Jennifer_Garner", 4)


@pytest.fixture(scope="module")
def second(gallery_settings) -> Iterator[TestClient]:
    with TestClient(create_app(gallery_settings), headers={"X-API-Key": ADMIN_KEY}) as client:
        yield client


def _top(client: TestClient) -> dict | None:
    response = client.post("/v1/identify", files={"image": ("q.jpg", PHOTO, "image/jpeg")})
    assert response.status_code == 200, response.text
    candidates = response.json()["candidates"]
    return candidates[0] if candidates else None


def test_enrolment_and_delete_travel_between_instances(admin, second):
    assert admin.app.state.gallery is not second.app.state.gallery  # two separate indexes
    identity = admin.post("/v1/identities", json={"name": "Shared"}).json()["id"]
    response = admin.post(f"/v1/identities/{identity}/faces", files={"images": ("a.jpg", PHOTO, "image/jpeg")})
    assert response.status_code == 201, response.text

    seen = _top(second)  # the other instance catches up from the change log before searching
    assert seen is not None and seen["identity"]["id"] == identity and seen["similarity"] > 0.9999
    assert len(second.app.state.gallery) == len(admin.app.state.gallery)

    assert second.delete(f"/v1/identities/{identity}").status_code == 204
    after = _top(admin)
    assert after is None or after["identity"]["id"] != identity
    assert len(second.app.state.gallery) == len(admin.app.state.gallery)
