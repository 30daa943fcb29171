"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.api.routes import API_PREFIX
from service.api.schemas import Health, Readiness

router = APIRouter(prefix=API_PREFIX)


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
async def health() -> Health:
    return Health()


@router.get("/ready", response_model=Readiness, summary="Readiness: database reachable, models and index loaded",
            responses={503: {"model": Readiness}})
def ready(request: Request):
    state = request.app.state
    checks = {
        "database": _database_ok(request),
        "models": getattr(state, "pipeline", None) is not None,
        "index": getattr(state, "gallery", None) is not None,
    }
    result = Readiness(ready=all(checks.values()), checks=checks)
    return result if result.ready else JSONResponse(result.model_dump(), status_code=503)


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
