"""The container's exact commands, run natively on Postgres: compose's migrate step, then the entrypoint."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from benchmarks.scale_out import Server, running, service_env
from benchmarks.service_latency import free_port
from service.config import Settings
from service.vision.model_card import ModelCard
from tests.conftest import lfw_image
from tests.deploy.files import ENTRYPOINT, compose_services, healthcheck_command
from tests.service.db.databases import postgres_schema
from tests.service.conftest import verify_threshold

ADMIN_KEY = "deploy-test-admin-key"


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=120)


def test_migrate_then_serve_verify_and_healthcheck(service_settings: Settings, service_card: ModelCard, tmp_path: Path):
    with postgres_schema("facever_deploy") as url:
        env = service_env(url, service_settings.models_dir, service_settings.embedder, api_keys=f"admin:{ADMIN_KEY}")
        migrate = _run([str(ENTRYPOINT), *compose_services()["migrate"]["command"]], env)
        assert migrate.returncode == 0, migrate.stderr

        port = free_port()
        server = Server([str(ENTRYPOINT)], env | {"HOST": "127.0.0.1", "PORT": str(port)}, port)
        with running([server], tmp_path) as (base,):
            assert httpx.get(f"{base}/v1/health").json()["status"] == "ok"
            assert _run(healthcheck_command(), server.env).returncode == 0

            images = {name: ("face.jpg", lfw_image("Hans_Blix", n).read_bytes(), "image/jpeg")
                      for name, n in (("image_a", 7), ("image_b", 8))}
            answer = httpx.post(f"{base}/v1/verify", files=images, headers={"X-API-Key": ADMIN_KEY}, timeout=60)
            assert answer.status_code == 200, answer.text
            # two photos of one person: the shipped model, at its card's threshold, says they match
            assert answer.json()["threshold"] == verify_threshold(service_card)
            assert answer.json()["match"] is True, answer.json()["similarity"]
            assert httpx.post(f"{base}/v1/verify", files=images).status_code == 401  # auth is on

        unhealthy = _run(healthcheck_command(), server.env)  # the server is gone: the check must say so
        assert unhealthy.returncode != 0


def test_entrypoint_refuses_to_start_without_the_embedder(service_settings: Settings, tmp_path: Path):
    database = tmp_path / "unused.db"
    env = service_env(f"sqlite:///{database}", service_settings.models_dir, "no-such-embedder")
    result = _run([str(ENTRYPOINT)], env | {"PORT": str(free_port())})
    assert result.returncode == 2
    assert "model files missing" in result.stderr
    assert str(service_settings.models_dir / "no-such-embedder" / "model.onnx") in result.stderr
    assert not database.exists()  # stopped before the server touched anything
