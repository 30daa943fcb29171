"""GET /metrics: Prometheus text with requests by route template, faces enrolled and index size
(faces and identities)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.service.api.conftest import CLIENT_KEY
from tests.service.api.helpers import lfw


def _value(text: str, sample: str) -> float:
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_requests_by_route_and_gallery_size(admin):
    identity = admin.post("/v1/identities", json={"name": "Metered"}).json()["id"]
    scrape = TestClient(admin.app, headers={"X-API-Key": CLIENT_KEY})  # a scraper's key: any role will do
    before = scrape.get("/metrics").text
    sample = 'facever_http_requests_total{method="GET",route="/v1/identities/{identity_id}",status="200"}'
    admin.get(f"/v1/identities/{identity}")
    admin.post(f"/v1/identities/{identity}/faces", files={"images": ("a.jpg", lfw("Hans_Blix", 9), "image/jpeg")})
    response = scrape.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _value(text, sample) == _value(before, sample) + 1
    assert _value(text, "facever_faces_enrolled_total") >= _value(before, "facever_faces_enrolled_total") + 1
    assert _value(text, "facever_index_faces") == len(admin.app.state.gallery) >= 1
    assert _value(text, "facever_index_identities") == admin.app.state.gallery.identities >= 1
    assert "facever_http_request_duration_seconds_bucket" in text


def test_metrics_need_a_key_by_default(admin):
    response = TestClient(admin.app).get("/metrics")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_metrics_auth_off_opens_metrics_only(service_settings: Settings, tmp_path):
    settings = service_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'open-metrics.db'}", "metrics_auth": False})
    with TestClient(create_app(settings)) as anonymous:
        assert anonymous.get("/metrics").status_code == 200
        assert anonymous.get("/v1/identities").status_code == 401  # the API itself keeps its keys
