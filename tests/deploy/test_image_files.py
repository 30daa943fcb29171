"""The Dockerfile and the compose file promise what the issue asks: checked on the files themselves."""

from __future__ import annotations

import json

from service.config import REPO_ROOT
from tests.deploy.files import ENTRYPOINT, IMAGE_ROOT, compose_services, interpolated_compose, last, native_path

ENV_DIR = REPO_ROOT / "docker"


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


def test_compose_starts_without_a_dot_env_and_publishes_on_loopback_only():
    services = interpolated_compose({})["services"]  # no .env, nothing exported: the README's `docker compose up`
    assert services["api"]["ports"] == ["127.0.0.1:8000:8000"]
    for env_file in services["api"]["env_file"]:
        assert (REPO_ROOT / env_file).is_file()  # compose stops on a missing env_file


def test_compose_publishes_on_every_interface_only_when_asked():
    services = interpolated_compose({"API_HOST": "0.0.0.0", "API_PORTS": "8000-8002"})["services"]
    assert services["api"]["ports"] == ["0.0.0.0:8000-8002:8000"]


def test_the_env_files_ship_no_api_key_that_could_be_kept_as_is():
    for name in ("env.example", "facever.env"):
        lines = (ENV_DIR / name).read_text().splitlines()
        assert not [line for line in lines if line.startswith("FACEVER_API_KEYS=")], name
