"""create_app(settings) -> the FastAPI application, with models, database and index loaded once at start."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from fastapi_offline import FastAPIOffline

from service import ui
from service.api import metrics
from service.api.body_limits import BodyLimits
from service.api.errors import install_error_handlers
from service.api.routes import faces, gallery, health, identify, identities, keys, verify
from service.api.uploads import body_limit
from service.auth import bootstrap_keys
from service.config import Settings
from service.db.engine import make_engine, session_factory
from service.db.migrate import ensure_migrated
from service.db.outages import UNAVAILABLE, outage_message, outage_reason
from service.errors import ErrorCode, FaceverError
from service.gallery.gallery import Gallery
from service.gallery.other_models import other_model_warning
from service.vision.pipeline import FacePipeline

log = logging.getLogger("facever.gallery")


@contextmanager
def _refuse_unavailable_database() -> Iterator[None]:
    """A database that cannot be opened or written at start (unreachable, read-only, full) stops the start with
    FaceverError(database_unavailable), whose code and reason say what to fix."""
    try:
        yield
    except UNAVAILABLE as error:
        reason = outage_reason(error)
        raise FaceverError(ErrorCode.database_unavailable, f"cannot start: {outage_message(reason)}",
                           reason=reason) from error


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.load()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        with _refuse_unavailable_database():
            await run_in_threadpool(ensure_migrated, settings)  # refuses an un-migrated non-embedded database
        engine = make_engine(settings.database_url)
        try:
            app.state.sessions = session_factory(engine)
            with _refuse_unavailable_database():
                await run_in_threadpool(bootstrap_keys, app.state.sessions, settings)
            app.state.pipeline = await run_in_threadpool(FacePipeline.from_settings, settings)
            gallery = Gallery.from_settings(app.state.sessions, settings, app.state.pipeline.embedder.dim,
                                            app.state.pipeline.embedder.scoring)
            # nothing is served yet: the first build may use every core this process may run on
            await run_in_threadpool(gallery.rebuild, len(os.sched_getaffinity(0)))
            app.state.gallery = gallery
            if warning := await run_in_threadpool(other_model_warning, app.state.sessions, settings.embedder):
                log.warning(warning)  # after a model switch the gallery looks empty: say why
            yield
        finally:
            engine.dispose()

    # the docs pages load Swagger UI and ReDoc from the service, so they work without internet access
    app = FastAPIOffline(
        title="facever",
        version="0.1.0",
        summary="Face verification and identification",
        lifespan=lifespan,
        # operationIds are the route functions' names (stable, and what the OpenAPI links name)
        generate_unique_id_function=lambda route: route.name,
    )

    # added first, so innermost: its refusals reach the error handlers straight from the route, not wrapped by the
    # task group of an outer middleware's receive; the byte limit is the largest body any route takes (an
    # enrolment of faces.MAX_IMAGES images)
    app.add_middleware(BodyLimits, timeout_s=settings.body_timeout,
                       max_bytes=body_limit(settings.max_image_bytes, faces.MAX_IMAGES))

    @app.middleware("http")
    async def request_id(request: Request, call_next):
        # honour a caller's id so logs can be joined across services
        request.state.request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("ui/")  # relative: stays under a proxy's path prefix; the console links /docs

    install_error_handlers(app)
    metrics.install(app, protected=settings.metrics_auth)
    app.include_router(health.router, tags=["health"])
    app.include_router(verify.router, tags=["verify"])
    app.include_router(identify.router, tags=["identify"])
    app.include_router(identities.router, tags=["identities"])
    app.include_router(faces.router, tags=["faces"])
    app.include_router(gallery.router, tags=["gallery"])
    app.include_router(keys.router, tags=["keys"])
    ui.mount(app)
    return app
