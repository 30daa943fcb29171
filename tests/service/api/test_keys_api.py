"""/v1/keys through HTTP on SQLite and Postgres: admin only; a key is shown once, works at once, and stops working
when revoked; the last admin key cannot be revoked over the API."""

from __future__ import annotations

import pytest

from tests.service.api.conftest import ADMIN_KEY, CLIENT_KEY
from tests.service.api.helpers import assert_error


def _listed(admin) -> dict[int, dict]:
    response = admin.get("/v1/keys")
    assert response.status_code == 200, response.text
    return {key["id"]: key for key in response.json()}


def test_the_configured_keys_are_listed_without_the_keys_themselves(admin):
    listed = _listed(admin)
    assert {(key["role"], key["prefix"]) for key in listed.values()} >= {("admin", ADMIN_KEY[:8]),
                                                                         ("client", CLIENT_KEY[:8])}
    assert not any(ADMIN_KEY in str(key) or CLIENT_KEY in str(key) for key in listed.values())


def test_a_created_key_is_shown_once_works_and_stops_working_when_revoked(admin):
    response = admin.post("/v1/keys", json={"name": "kiosk", "role": "client"})
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["key"].startswith(made["prefix"]) and made["role"] == "client" and not made["revoked"]
    listed = _listed(admin)[made["id"]]
    assert "key" not in listed and listed["name"] == "kiosk"
    as_kiosk = {"X-API-Key": made["key"]}
    assert admin.get("/v1/identities", headers=as_kiosk).status_code == 200
    assert_error(admin.get("/v1/keys", headers=as_kiosk), 403, "forbidden")  # a client key manages no keys

    revoked = admin.post(f"/v1/keys/{made['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert _listed(admin)[made["id"]]["revoked"] is True
    assert_error(admin.get("/v1/identities", headers=as_kiosk), 401, "unauthorized")


def test_the_last_admin_key_is_kept(admin):
    admins = [key for key in _listed(admin).values() if key["role"] == "admin" and not key["revoked"]]
    assert len(admins) == 1
    body = assert_error(admin.post(f"/v1/keys/{admins[0]['id']}/revoke"), 409, "conflict")
    assert "last admin key" in body["error"]["message"]
    assert admin.get("/v1/keys").status_code == 200  # still admitted
    # with a second admin key the first one may go, using the second
    second = admin.post("/v1/keys", json={"name": "second admin", "role": "admin"}).json()
    as_second = {"X-API-Key": second["key"]}
    assert admin.post(f"/v1/keys/{second['id']}/revoke", headers=as_second).status_code == 200  # itself: allowed
    assert_error(admin.get("/v1/keys", headers=as_second), 401, "unauthorized")


@pytest.mark.parametrize("body, code", [
    ({"name": "x", "role": "root"}, "validation_error"),
    ({"name": "", "role": "client"}, "validation_error"),
    ({"role": "client"}, "validation_error"),
    ({"name": "x", "role": "client", "scope": "all"}, "validation_error"),
])
def test_a_bad_key_request_is_a_422_and_creates_nothing(admin, body, code):
    before = len(_listed(admin))
    assert_error(admin.post("/v1/keys", json=body), 422, code)
    assert len(_listed(admin)) == before


def test_an_unknown_key_id_is_a_404_and_out_of_range_a_422(admin):
    assert_error(admin.post("/v1/keys/999999/revoke"), 404, "not_found")
    assert_error(admin.post(f"/v1/keys/{2**63}/revoke"), 422, "validation_error")


def test_clients_cannot_list_create_or_revoke(client_role):
    assert_error(client_role.get("/v1/keys"), 403, "forbidden")
    assert_error(client_role.post("/v1/keys", json={"name": "mine", "role": "admin"}), 403, "forbidden")
    assert_error(client_role.post("/v1/keys/1/revoke"), 403, "forbidden")
