"""Prometheus metrics: requests and latency by route template, faces enrolled, index size (faces, identities).

With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR to an empty folder shared by them (before
start): each scrape then sums every worker's counters (prometheus-client's multiprocess mode).
Without it, /metrics shows the process that answered the scrape only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from service.api.deps import client

_REQUESTS = Counter("facever_http_requests", "HTTP requests answered", ["method", "route", "status"])
_LATENCY = Histogram(
    "facever_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_ENROLLED = Counter("facever_faces_enrolled", "faces enrolled through this service")
# every worker's index converges to the same size, so the largest report is the current one
_INDEX_SIZE = Gauge("facever_index_faces", "faces in the in-memory search index", multiprocess_mode="max")
_INDEX_IDENTITIES = Gauge("facever_index_identities", "identities (templates) in the in-memory search index",
                          multiprocess_mode="max")


def faces_enrolled(count: int) -> None:
    _ENROLLED.inc(count)


def _route_of(request: Request) -> str:
    # the template (/v1/identities/{identity_id}), never the raw path: bounded label values
    route = request.scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def install(app: FastAPI, protected: bool = True) -> None:
    """Count every request and serve GET /metrics, behind an API key of any role when `protected`.

    Route names and gallery size tell an outsider about the deployment, so the default asks for a key
    (FACEVER_METRICS_AUTH=off opens it for a scraper on a private network).
    """

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        status = 500  # an exception escaping the app below still counts, as a 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = _route_of(request)
            _LATENCY.labels(request.method, route).observe(time.perf_counter() - start)
            _REQUESTS.labels(request.method, route, str(status)).inc()

    @app.get("/metrics", include_in_schema=False, dependencies=[client] if protected else [])
    def metrics(request: Request) -> Response:
        gallery = getattr(request.app.state, "gallery", None)
        if gallery is not None:
            _INDEX_SIZE.set(len(gallery))
            _INDEX_IDENTITIES.set(gallery.identities)
        registry = REGISTRY
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
