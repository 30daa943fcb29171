"""FastAPI dependencies: the app's pipeline, gallery and sessions, and API-key checks by role."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from fastapi import Depends, Request, params
from fastapi.dependencies.utils import get_flat_params
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session, sessionmaker

from service.auth import role_of
from service.config import Settings
from service.errors import ErrorCode, FaceverError
from service.gallery.gallery import Gallery
from service.key_rules import Role
from service.vision.pipeline import FacePipeline

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key; role admin or client")


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def pipeline_of(request: Request) -> FacePipeline:
    return request.app.state.pipeline


def gallery_of(request: Request) -> Gallery:
    return request.app.state.gallery


def sessions_of(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def require(role: Role) -> Callable[..., None]:
    """A dependency admitting `role` and admin (admin may do everything)."""

    # a plain def: FastAPI runs it in the thread pool, so the key lookup does not block the loop
    def check(request: Request, key: str | None = Depends(_api_key)) -> None:
        if not settings_of(request).auth:
            return
        key = (key or "").strip()  # a key pasted with a trailing space or newline is still the key
        if not key:
            raise FaceverError(ErrorCode.unauthorized, "send an API key in the X-API-Key header")
        with sessions_of(request)() as session:
            found = role_of(session, key)
        if found is None:
            raise FaceverError(ErrorCode.unauthorized, "the API key is not valid or was revoked")
        if found != "admin" and found != role:
            raise FaceverError(ErrorCode.forbidden, f"this needs the {role} role", role=found)

    return check


admin = Depends(require("admin"))
client = Depends(require("client"))


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def known_query(request: Request) -> None:
    """Refuse query parameters the route does not read (422 unexpected_field), rather than silently ignore a
    misspelt filter, and a parameter sent more than once (400 invalid_request), rather than silently use one
    of its values: no route takes a list in the query."""
    fields = get_flat_params(request.scope["route"].dependant)
    names = {field.alias for field in fields if isinstance(field.field_info, params.Query)}
    unknown = next((name for name in request.query_params if name not in names), None)
    if unknown is not None:
        where = ("; this route reads its fields from the body (a multipart form field or a JSON field)"
                 if request.method in BODY_METHODS and not names else "")
        raise FaceverError(ErrorCode.unexpected_field, f"{unknown!r} is not a query parameter of this route{where}",
                           field=unknown)
    counts = Counter(name for name, _ in request.query_params.multi_items())
    repeated = next((name for name, count in counts.items() if count > 1), None)
    if repeated is not None:
        raise FaceverError(ErrorCode.invalid_request, f"query parameter {repeated!r} is sent {counts[repeated]} "
                           "times; send it once", field=repeated, count=counts[repeated])


query_checked = Depends(known_query)
