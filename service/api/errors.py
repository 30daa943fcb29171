"""The error envelope of DESIGN.md, and the handlers that turn every failure into it."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from service.errors import FaceverError

log = logging.getLogger("facever.api")

# codes for errors raised by the framework itself rather than by facever code
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "request_too_large", 415: "unsupported_media_type"}


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorEnvelope(BaseModel):
    """What every non-2xx response carries."""

    error: ErrorBody
    request_id: str


def error_response(request: Request, status: int, code: str, message: str, details: dict | None = None) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "")
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message, details=details or {}), request_id=request_id)
    return JSONResponse(body.model_dump(), status_code=status, headers={"X-Request-ID": request_id})


async def _facever_error(request: Request, error: FaceverError) -> JSONResponse:
    return error_response(request, error.code.status, error.code.value, error.message, error.details)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = [{"field": ".".join(str(p) for p in item["loc"]), "message": item["msg"]} for item in error.errors()]
    return error_response(request, 422, "validation_error", "the request is not valid", {"errors": problems})


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(error.status_code, "http_error")
    return error_response(request, error.status_code, code, str(error.detail))


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    # a bug, not bad input: log it with the request id so the 500 can be traced
    log.exception("unhandled error in request %s", getattr(request.state, "request_id", "?"))
    return error_response(request, 500, "internal_error", "internal error; see the server log for this request id")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(FaceverError, _facever_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
