"""The API docs and the console work offline: /docs, /redoc and /ui/ load only assets the service serves itself;
/ leads to the console."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings

BASE = "http://testserver"


@pytest.fixture(scope="module")
def docs_client(service_settings: Settings) -> TestClient:
    return TestClient(create_app(service_settings), base_url=BASE)  # no lifespan: pages only, no models loaded


def _referenced(html: str) -> list[str]:
    """Every URL the page loads: src, href and spec-url attributes and the Swagger script's `url: '...'`."""
    return re.findall(r"""(?:src|href|spec-url)=["']([^"']+)["']|\burl:\s*["']([^"']+)["']""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/ui/"])
def test_docs_pages_load_only_same_origin_assets_that_exist(docs_client: TestClient, page: str) -> None:
    response = docs_client.get(page)
    assert response.status_code == 200
    urls = [urljoin(BASE + page, first or second) for first, second in _referenced(response.text)]
    assert len(urls) >= 2
    for url in urls:
        assert url.startswith(BASE + "/"), f"{page} loads {url} from elsewhere"
        assert docs_client.get(url).status_code == 200, url


def test_the_root_redirects_to_the_console(docs_client: TestClient) -> None:
    response = docs_client.get("/", follow_redirects=False)
    assert response.status_code in (302, 307)
    assert urljoin(BASE + "/", response.headers["location"]) == BASE + "/ui/"
