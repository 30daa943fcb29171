"""OpenAPI documentation of error responses: the envelope as every error's body, the codes grouped by status."""

from __future__ import annotations

from typing import Any

from service.api.errors import ErrorEnvelope
from service.errors import ErrorCode

# what a route's dependencies and body reading can answer with, whatever the route does
CLIENT = (ErrorCode.unauthorized,)
ADMIN = (ErrorCode.unauthorized, ErrorCode.forbidden)
# any route that reads a body: one sent too slowly, or larger than the largest any route takes
BODY = (ErrorCode.body_timeout, ErrorCode.image_too_large)
IMAGE_BODY = (*BODY, ErrorCode.invalid_request, ErrorCode.invalid_image, ErrorCode.unsupported_media_type,
              ErrorCode.unsupported_format, ErrorCode.validation_error, ErrorCode.unexpected_field)
# a path or query parameter out of range, a query parameter the route does not read, or one sent twice
# (the same codes as a JSON body that does not parse, 400, or parses but does not fit, 422)
PARAMS = (ErrorCode.validation_error, ErrorCode.unexpected_field, ErrorCode.invalid_request)
FACE = (ErrorCode.no_face, ErrorCode.face_too_small, ErrorCode.low_detection_score)

_WHEN = {
    401: "no API key, or one that is not valid (only when FACEVER_AUTH is on)",
    403: "the API key's role may not do this (admin routes)",
    408: "the body was not complete within FACEVER_BODY_TIMEOUT seconds of the request's arrival",
    500: "a bug, logged with its traceback under the request id",
    503: "the database cannot be reached or cannot take writes now (details.reason); retry later",
}


def error_responses(*codes: ErrorCode, database: bool = True) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status its codes can have, with the envelope as body (500 on every route,
    503 database_unavailable on every route that reads or writes the database, API-key checks included)."""
    by_status: dict[int, list[str]] = {}
    always = (ErrorCode.database_unavailable, ErrorCode.internal_error) if database else (ErrorCode.internal_error,)
    for code in dict.fromkeys((*codes, *always)):
        by_status.setdefault(code.status, []).append(f"`{code.value}`")
    return {
        status: {"model": ErrorEnvelope, "description": _description(status, names)}
        for status, names in sorted(by_status.items())
    }


def _description(status: int, names: list[str]) -> str:
    when = f" — {_WHEN[status]}" if status in _WHEN else ""
    return f"error.code: {', '.join(names)}{when}"


def links(status: int, description: str, **targets: dict[str, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` entry naming, for a success status, the operations its body leads to (OpenAPI links).

    Each target is an operationId (the route's function name) mapped to its parameters, each given by a
    runtime expression such as `$response.body#/id`.
    """
    return {status: {"description": description, "links": {
        operation: {"operationId": operation, "parameters": parameters} for operation, parameters in targets.items()
    }}}
