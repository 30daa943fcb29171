"""The error envelope of DESIGN.md, and the handlers that turn every failure into it."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match

from service.db.outages import UNAVAILABLE, outage_message, outage_reason
from service.errors import ErrorCode, FaceverError

log = logging.getLogger("facever.api")

# codes for errors raised by the framework itself rather than by facever code (any other 4xx: invalid_request)
_HTTP_CODES = {code.status: code for code in (ErrorCode.unauthorized, ErrorCode.forbidden, ErrorCode.not_found,
                                              ErrorCode.method_not_allowed, ErrorCode.image_too_large,
                                              ErrorCode.unsupported_media_type, ErrorCode.body_timeout)}
_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


class ErrorBody(BaseModel):
    """What went wrong: a stable code for programs, a message for people, structured details."""

    code: ErrorCode = Field(description="one of service/errors.py's codes; the status each route can answer "
                                        "with lists its codes")
    message: str
    details: dict[str, Any] = Field({}, description="e.g. the offending fields (validation_error) or limits")


class ErrorEnvelope(BaseModel):
    """What every non-2xx response carries."""

    error: ErrorBody
    request_id: str = Field(description="also the X-Request-ID header; the server log names it")


def error_response(request: Request, status: int, code: ErrorCode, message: str, details: dict | None = None,
                   headers: dict[str, str] | None = None, cause: BaseException | None = None) -> JSONResponse:
    """The envelope as a response, and one log line naming its request id (with the traceback of a `cause`)."""
    request_id = getattr(request.state, "request_id", "")
    log.log(logging.ERROR if status >= 500 else logging.INFO, "request %s: %s %s -> %d %s: %s", request_id,
            request.method, request.url.path, status, code.value, message, exc_info=cause)
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message, details=details or {}), request_id=request_id)
    return JSONResponse(body.model_dump(mode="json"), status_code=status,
                        headers={**(headers or {}), "X-Request-ID": request_id})


async def _facever_error(request: Request, error: FaceverError) -> JSONResponse:
    return error_response(request, error.code.status, error.code, error.message, error.details)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = [{"field": ".".join(str(p) for p in item["loc"]), "message": item["msg"]} for item in error.errors()]
    return error_response(request, 422, ErrorCode.validation_error, "the request is not valid",
                          {"errors": problems})


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    fallback = ErrorCode.invalid_request if error.status_code < 500 else ErrorCode.internal_error
    code = _HTTP_CODES.get(error.status_code, fallback)
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return error_response(request, error.status_code, code, str(error.detail), headers=headers)


def _allowed_methods(request: Request) -> str:
    # the router names the methods of the first route of the path only; ask every route about every method
    routes = request.app.router.routes
    return ", ".join(method for method in _METHODS
                     if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes))


async def _database_unavailable(request: Request, error: Exception) -> JSONResponse:
    # an outage, not a bug: no traceback; the driver's words (they may name hosts and paths) go to the log only
    reason = outage_reason(error)
    log.warning("request %s: database unavailable (%s): %s", getattr(request.state, "request_id", ""), reason,
                str(getattr(error, "orig", None) or error).strip().splitlines()[0])
    return error_response(request, 503, ErrorCode.database_unavailable, outage_message(reason), {"reason": reason})


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    # a bug, not bad input: logged with its traceback, so the 500 can be traced by its request id
    return error_response(request, 500, ErrorCode.internal_error,
                          "internal error; see the server log for this request id", cause=error)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(FaceverError, _facever_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected_error)
