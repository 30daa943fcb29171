"""The web console at /ui: static HTML, JavaScript modules and CSS shipped in the package (no build step, no CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """Serve the console at /ui/ (/ui redirects there)."""
    app.mount("/ui", StaticFiles(directory=STATIC_DIR, html=True), name="ui")
