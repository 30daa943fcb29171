"""Helpers shared by the upload routes: validate non-image fields, and document both body types."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from service.errors import ErrorCode, FaceverError

P = TypeVar("P", bound=BaseModel)


def parse_params(model: type[P], fields: dict[str, Any]) -> P:
    """Validate non-image fields; a wrong or missing field is a 422 with the offending names."""
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        problems = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in error.errors()]
        raise FaceverError(ErrorCode.validation_error, "invalid request fields", errors=problems) from None


def image_bytes(body: dict[str, Any], name: str) -> bytes:
    """The one image sent in field `name`, or a validation error naming it."""
    value = body.get(name)
    if not isinstance(value, bytes):
        raise FaceverError(ErrorCode.validation_error, f"send exactly one image in {name!r}", missing=[name])
    return value


def body_doc(params: type[BaseModel], images: dict[str, bool], required: list[str]) -> dict[str, Any]:
    """openapi_extra documenting a multipart and a base64-JSON body.

    `images` maps each image field to whether it takes several images.
    """
    fields = params.model_json_schema()["properties"]

    def schema(item: dict[str, str]) -> dict[str, Any]:
        properties = {
            name: {"type": "array", "items": item} if many else item for name, many in images.items()
        }
        return {"type": "object", "required": required, "properties": {**properties, **fields}}

    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": schema({"type": "string", "format": "binary"})},
                "application/json": {
                    "schema": schema({"type": "string", "format": "byte", "description": "base64 image"})
                },
            },
        }
    }
