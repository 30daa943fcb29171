"""The console's files, without a browser: served at /ui/, every module import resolves, nothing comes from elsewhere."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.ui import STATIC_DIR

BASE = "http://testserver"
_IMPORT = re.compile(r"""\bfrom\s+['"]([^'"]+)['"]|\bimport\s+['"]([^'"]+)['"]""")


@pytest.fixture(scope="module")
def pages(service_settings: Settings) -> TestClient:
    return TestClient(create_app(service_settings), base_url=BASE)  # no lifespan: files only, no models loaded


def test_ui_without_a_slash_leads_to_the_console(pages: TestClient) -> None:
    response = pages.get("/ui", follow_redirects=False)
    assert response.status_code in (301, 307)
    assert urljoin(BASE + "/ui", response.headers["location"]) == BASE + "/ui/"
    assert "<title>facever console</title>" in pages.get("/ui/").text


def test_every_module_import_is_a_file_the_service_serves(pages: TestClient) -> None:
    scripts = sorted(STATIC_DIR.rglob("*.js"))
    assert len(scripts) >= 8
    for script in scripts:
        url = f"{BASE}/ui/{script.relative_to(STATIC_DIR).as_posix()}"
        response = pages.get(url)
        assert response.status_code == 200 and "javascript" in response.headers["content-type"], url
        for first, second in _IMPORT.findall(response.text):
            target = urljoin(url, first or second)
            assert target.startswith(BASE + "/ui/"), f"{url} imports {target} from elsewhere"
            assert pages.get(target).status_code == 200, f"{url} imports {target}, which is not served"


def test_no_file_of_the_console_loads_anything_from_another_site() -> None:
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", path.read_text()), path
