"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.api.responses import error_responses
from service.api.routes import API_PREFIX
from service.api.schemas import Health, Readiness
from service.gallery.other_models import other_model_warning

router = APIRouter(prefix=API_PREFIX)


@router.get("/health", response_model=Health, summary="Liveness: the process answers",
            responses=error_responses(database=False))
async def health() -> Health:
    return Health()


@router.get("/ready", response_model=Readiness, summary="Readiness: database reachable, models and index loaded",
            responses={**error_responses(database=False), 503: {"model": Readiness, "description": "not ready: see checks"}})
def ready(request: Request):
    state = request.app.state
    checks = {
        "database": _database_ok(request),
        "models": getattr(state, "pipeline", None) is not None,
        "index": getattr(state, "gallery", None) is not None,
    }
    warning = _other_model_warning(request) if checks["database"] and checks["index"] else None
    result = Readiness(ready=all(checks.values()), checks=checks, warnings=[warning] if warning else [])
    return result if result.ready else JSONResponse(result.model_dump(), status_code=503)


def _other_model_warning(request: Request) -> str | None:
    """Faces the active model cannot search (stored by another), asked of SQL on every probe so that a
    `facever reembed` run while serving clears it."""
    try:
        return other_model_warning(request.app.state.sessions, request.app.state.gallery.embedder)
    except SQLAlchemyError:  # the database went away between the checks: the next probe says so
        return None


def _database_ok(request: Request) -> bool:
    sessions = getattr(request.app.state, "sessions", None)
    if sessions is None:
        return False
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True
