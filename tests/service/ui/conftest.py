"""Browser-test fixtures: a real `facever serve` process on a fresh SQLite gallery, and headless Debian Chromium
driven by Playwright (browsers cannot be downloaded here, so Playwright is pointed at the system one)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.service_latency import free_port, stop_service, wait_ready
from service.config import Settings
from tests.service.api.helpers import start_serve

CHROMIUM = Path("/usr/bin/chromium")
ADMIN_KEY = "admin-key-for-console-tests"
# quiet, offline, and able to run as root in a container without a GPU
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def console_url(service_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a live service with one admin key (ADMIN_KEY) and an empty gallery."""
    folder = tmp_path_factory.mktemp("console")
    port, log = free_port(), folder / "serve.log"
    env = {"FACEVER_MODELS_DIR": str(service_settings.models_dir), "FACEVER_EMBEDDER": service_settings.embedder,
           "FACEVER_DATABASE_URL": f"sqlite:///{folder / 'facever.db'}", "FACEVER_API_KEYS": f"admin:{ADMIN_KEY}",
           "FACEVER_GALLERY_SYNC_INTERVAL": "0"}
    server = start_serve(port, env, log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(server, base, log)
        yield base
    finally:
        stop_service(server)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian package `chromium`; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the walk saves its screenshots: FACEVER_UI_SCREENSHOTS if set (e.g. to refresh docs/ui), else a temp
    folder that pytest keeps for a few runs."""
    chosen = os.environ.get("FACEVER_UI_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
