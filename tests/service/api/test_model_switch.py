"""After a model switch the gallery says why it looks empty: a start-up log line and /v1/ready's warnings name
the faces another model embedded and `facever reembed`, until it has run."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.app import create_app
from service.cli import app as cli
from service.config import Settings
from tests.service.api.conftest import ADMIN_KEY
from tests.service.api.helpers import lfw

NEW_MODEL = "resnet20q-kd-cosface-rf-iam-int8"  # the second shipped embedder


def test_a_switch_is_reported_until_reembed_runs(gallery_settings: Settings, caplog: pytest.LogCaptureFixture):
    old_model = gallery_settings.embedder
    with TestClient(create_app(gallery_settings), headers={"X-API-Key": ADMIN_KEY}) as old:
        identity = old.post("/v1/identities", json={"name": "Switched"}).json()["id"]
        face = {"images": ("a.jpg", lfw("Hans_Blix", 7), "image/jpeg")}
        assert old.post(f"/v1/identities/{identity}/faces", files=face).status_code == 201
        assert old.get("/v1/ready").json()["warnings"] == []

    switched = gallery_settings.model_copy(update={"embedder": NEW_MODEL})
    with caplog.at_level(logging.WARNING, logger="facever.gallery"), TestClient(create_app(switched)) as new:
        assert f"by {old_model}) and are not searched with {NEW_MODEL}" in caplog.text
        ready = new.get("/v1/ready").json()
        assert ready["ready"] is True and len(ready["warnings"]) == 1
        assert "facever reembed" in ready["warnings"][0] and f"by {old_model}" in ready["warnings"][0]

        env = {"FACEVER_DATABASE_URL": switched.database_url, "FACEVER_EMBEDDER": NEW_MODEL,
               "FACEVER_MODELS_DIR": str(switched.models_dir)}
        done = CliRunner().invoke(cli, ["reembed"], env=env)
        assert done.exit_code == 0, done.output
        assert new.get("/v1/ready").json()["warnings"] == []  # asked afresh: no restart needed
