"""The Dockerfile and the compose file promise what the issue asks: checked on the files themselves."""

from __future__ import annotations

import json

from tests.deploy.files import ENTRYPOINT, IMAGE_ROOT, compose_services, last, native_path


def test_image_runs_the_entrypoint_script_as_a_non_root_user():
    assert json.loads(last("ENTRYPOINT")) == [f"{IMAGE_ROOT}/docker/entrypoint.sh"]
    assert native_path(json.loads(last("ENTRYPOINT"))[0]) == str(ENTRYPOINT)
    assert json.loads(last("CMD")) == ["serve"]
    assert last("USER").split(":")[0] not in ("root", "0")
    assert "/data" in json.loads(last("VOLUME"))


def test_api_starts_only_after_the_one_shot_migration():
    services = compose_services()
    assert services["migrate"]["command"] == ["facever", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    for api in ("api", "api-gpu"):
        assert services[api]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"][1]


def test_gpu_profile_reserves_a_gpu():
    gpu = compose_services()["api-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["build"]["args"] == {"VARIANT": "gpu"}
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
