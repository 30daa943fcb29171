"""A real `facever serve` process: every error response leaves a log line carrying its request id."""

from __future__ import annotations

from pathlib import Path

import httpx

from benchmarks.service_latency import free_port, stop_service, wait_ready
from service.config import Settings
from tests.service.api.helpers import start_serve


def test_the_server_log_names_the_request_id_of_each_error(service_settings: Settings, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "serve.log"
    env = {"FACEVER_MODELS_DIR": str(service_settings.models_dir), "FACEVER_EMBEDDER": service_settings.embedder,
           "FACEVER_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}", "FACEVER_AUTH": "off"}
    server = start_serve(port, env, log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(server, base, log)
        chosen = httpx.get(f"{base}/v1/identities/abc", headers={"X-Request-ID": "trace-me-42"})
        generated = httpx.post(f"{base}/v1/verify", content=b"hello", headers={"content-type": "text/plain"})
    finally:
        stop_service(server)
    text = log.read_text()
    assert chosen.status_code == 422 and chosen.json()["request_id"] == "trace-me-42"
    assert generated.status_code == 415
    for response in (chosen, generated):
        lines = [line for line in text.splitlines() if response.json()["request_id"] in line]
        assert len(lines) == 1 and f"-> {response.status_code} {response.json()['error']['code']}" in lines[0], text
