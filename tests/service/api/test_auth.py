"""API keys: 401 without or with a bad/revoked key, 403 for a client on admin routes, bootstrap, auth off."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service import auth
from service.app import create_app
from service.config import REPO_ROOT
from service.db.engine import write_session
from service.db.models import ApiKey
from tests.service.api.conftest import ADMIN_KEY
from tests.service.api.helpers import assert_error


def test_missing_or_wrong_key_is_a_401(admin):
    bare = TestClient(admin.app)
    assert_error(bare.get("/v1/identities"), 401, "unauthorized")
    assert_error(bare.get("/v1/identities", headers={"X-API-Key": "nope"}), 401, "unauthorized")
    assert_error(bare.post("/v1/identify", headers={"X-API-Key": ADMIN_KEY + "x"}), 401, "unauthorized")
    assert bare.get("/v1/health").status_code == 200 and bare.get("/v1/ready").status_code == 200


@pytest.mark.parametrize("padding", [" ", "\n", "\r\n", "\t "], ids=["space", "newline", "crlf", "tab-space"])
def test_a_key_with_surrounding_whitespace_is_the_key(admin, padding):
    bare = TestClient(admin.app)
    assert bare.get("/v1/identities", headers={"X-API-Key": ADMIN_KEY + padding}).status_code == 200
    assert bare.get("/v1/identities", headers={"X-API-Key": padding + ADMIN_KEY}).status_code == 200
    assert_error(bare.get("/v1/identities", headers={"X-API-Key": padding}), 401, "unauthorized")
    assert_error(bare.get("/v1/identities", headers={"X-API-Key": ADMIN_KEY[:4] + " " + ADMIN_KEY[4:]}),
                 401, "unauthorized")  # only the ends are trimmed


def test_client_reads_but_cannot_write(admin, client_role):
    identity = admin.post("/v1/identities", json={"name": "Role Check"}).json()["id"]
    assert client_role.get(f"/v1/identities/{identity}").status_code == 200
    assert client_role.get(f"/v1/identities/{identity}/faces").status_code == 200
    assert_error(client_role.post("/v1/identities", json={"name": "x"}), 403, "forbidden")
    assert_error(client_role.patch(f"/v1/identities/{identity}", json={"name": "x"}), 403, "forbidden")
    assert_error(client_role.delete(f"/v1/identities/{identity}"), 403, "forbidden")
    assert_error(client_role.post(f"/v1/identities/{identity}/faces", json={"images": []}), 403, "forbidden")
    assert admin.get(f"/v1/identities/{identity}").json()["name"] == "Role Check"


def test_revoked_key_is_a_401(admin):
    sessions = admin.app.state.sessions
    with write_session(sessions) as session:
        info, key = auth.create_key(session, "temporary", "client")
    assert info.prefix == key[:8] and key.startswith("fv_")
    user = TestClient(admin.app, headers={"X-API-Key": key})
    assert user.get("/v1/identities").status_code == 200
    with write_session(sessions) as session:
        assert auth.revoke_key(session, info.id).revoked
    assert_error(user.get("/v1/identities"), 401, "unauthorized")
    with sessions() as session:  # only hashes are stored
        assert key not in set(session.scalars(select(ApiKey.key_hash)))


def test_embedded_database_bootstraps_one_admin_key_and_logs_it_once(service_settings, tmp_path, caplog):
    settings = service_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'boot.db'}"})
    with caplog.at_level(logging.WARNING, logger="facever.auth"), TestClient(create_app(settings)) as client:
        found = re.findall(r"API key \(shown only this once\): (\S+)", caplog.text)
        assert len(found) == 1
        assert client.get("/v1/identities", headers={"X-API-Key": found[0]}).status_code == 200
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="facever.auth"), TestClient(create_app(settings)):
        assert "shown only this once" not in caplog.text  # a second start makes no new key


def test_auth_off_admits_everyone(service_settings, tmp_path):
    settings = service_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'open.db'}", "auth": False})
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/identities", json={"name": "Open"}).status_code == 201


@pytest.mark.parametrize("text", ["admin", "root:abcdefghijklmnop", "client:short", "client:fifteen-chars-x",
                                  "admin:change-me-too", "admin:CHANGE-ME", "client:k2"])
def test_malformed_short_or_example_keys_are_refused(text):
    with pytest.raises(ValueError):
        auth.parse_key_list(text)


def test_serve_refuses_an_example_key_at_start_without_echoing_it(tmp_path):
    database = tmp_path / "never.db"
    env = {key: value for key, value in os.environ.items() if not key.startswith("FACEVER_")}
    env |= {"FACEVER_API_KEYS": "admin:change-me-too", "FACEVER_DATABASE_URL": f"sqlite:///{database}"}
    done = subprocess.run([sys.executable, "-c", "from service.cli import app; app()", "serve"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "FACEVER_API_KEYS: entry 1 (admin) is an example key" in done.stderr
    assert "change-me-too" not in done.stderr + done.stdout
    assert not database.exists()  # refused before anything was opened
