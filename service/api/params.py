"""Helpers shared by the upload routes: validate non-image fields, and document both body types."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from service.api.uploads import MULTIPART
from service.config import Settings
from service.errors import ErrorCode, FaceverError

P = TypeVar("P", bound=BaseModel)
_MIB = Settings.model_fields["max_image_bytes"].default // 2**20
_IMAGE_TYPES = "image/jpeg, image/png, image/webp, image/bmp"


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


def body_doc(params: type[BaseModel], images: dict[str, int], required: list[str],
             one_of: tuple[str, ...] = ()) -> dict[str, Any]:
    """openapi_extra documenting a multipart and a base64-JSON body.

    `images` maps each image field to how many images it takes (more than 1: a list); `one_of` names fields of
    which exactly one must be sent.
    """
    fields = params.model_json_schema()["properties"]

    def schema(item: dict[str, str], as_json: bool) -> dict[str, Any]:
        properties = {name: _images(item, count, as_json) for name, count in images.items()}
        properties |= {name: field if as_json else _not_null(field) for name, field in fields.items()}
        body = {"type": "object", "required": required, "properties": properties, "additionalProperties": False}
        if one_of:
            body["oneOf"] = [{"required": [name], "properties": {name: {"not": {"type": "null"}}}} for name in one_of]
        return body

    image = f"a JPEG, PNG, WebP or BMP image of at most FACEVER_MAX_IMAGE_BYTES ({_MIB} MiB by default)"
    return {
        "requestBody": {
            "required": True,
            "content": {
                # form fields travel as text and cannot be null: leave one out for its default
                MULTIPART: {
                    "schema": schema({"type": "string", "format": "binary", "description": image}, as_json=False),
                    "encoding": {name: {"contentType": _IMAGE_TYPES} for name in images},
                },
                "application/json": {
                    "schema": schema({"type": "string", "format": "byte", "description": f"base64 of {image}"},
                                     as_json=True)
                },
            },
        }
    }


def _images(item: dict[str, str], count: int, as_json: bool) -> dict[str, Any]:
    """One image, or a list of 1 to `count` (JSON also takes a lone string; multipart repeats the field)."""
    if count == 1:
        return item
    many = {"type": "array", "items": item, "minItems": 1, "maxItems": count, "description": f"1 to {count} images"}
    return {"anyOf": [item, many]} if as_json else many


def _not_null(field: dict[str, Any]) -> dict[str, Any]:
    """The field's schema without its null option (and null default)."""
    options = [option for option in field.get("anyOf", []) if option.get("type") != "null"]
    rest = {key: value for key, value in field.items() if key != "anyOf" and not (key == "default" and value is None)}
    return {**options[0], **rest} if len(options) == 1 else rest
