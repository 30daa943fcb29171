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
# what the bytes must be beyond their type: the refusals are documented, not a surprise to a client or a fuzzer
_IMAGE_REFUSED = ("Bytes that do not decode as one of these formats are refused (400 invalid_image, "
                  "415 unsupported_format), and so is an image without a face that passes the quality gate "
                  "(422 no_face, face_too_small, low_detection_score).")


def parse_params(model: type[P], fields: dict[str, Any], *, strict: bool) -> P:
    """Validate non-image fields; a wrong or missing field is a 422 with the offending names.

    `strict` for a JSON body, whose values have JSON types: `0` is not a boolean there, nor `"5"` an integer.
    Form fields travel as text, so a multipart body's values are parsed from their text.
    """
    if strict:  # JSON has one number type: 5.0 is the integer 5 (as JSON Schema says), not a float to refuse
        fields = {name: int(v) if isinstance(v, float) and v.is_integer() else v for name, v in fields.items()}
    try:
        return model.model_validate(fields, strict=strict)
    except ValidationError as error:
        problems = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"].removeprefix("Value error, ")}
                    for e in error.errors()]
        raise FaceverError(ErrorCode.validation_error, "invalid request fields", errors=problems) from None


def image_bytes(body: dict[str, Any], name: str) -> bytes:
    """The one image sent in field `name`, or a validation error naming it."""
    value = body.get(name)
    if not isinstance(value, bytes):
        raise FaceverError(ErrorCode.validation_error, f"send exactly one image in {name!r}", missing=[name])
    return value


def body_doc(params: type[BaseModel], images: dict[str, int], required: list[str],
             one_of: tuple[str, ...] = (), at_most_one: tuple[str, ...] = ()) -> dict[str, Any]:
    """openapi_extra documenting a multipart and a base64-JSON body.

    `images` maps each image field to how many images it takes (more than 1: a list); `one_of` names fields of
    which exactly one must be sent, `at_most_one` two fields that must not both be sent (in JSON a null is
    not sent).
    """
    fields = params.model_json_schema()["properties"]

    def schema(item: dict[str, str], as_json: bool) -> dict[str, Any]:
        properties = {name: _images(item, count, as_json) for name, count in images.items()}
        properties |= {name: field if as_json else _not_null(field) for name, field in fields.items()}
        body = {"type": "object", "required": required, "properties": properties, "additionalProperties": False}
        if one_of:
            body["oneOf"] = [_only(name, one_of, fields, as_json) for name in one_of]
        if at_most_one:
            both: dict[str, Any] = {"required": list(at_most_one)}
            if as_json:
                both["properties"] = {name: {"not": {"type": "null"}} for name in at_most_one}
            body["not"] = both
        return body

    image = (f"a JPEG, PNG, WebP or BMP image of at most FACEVER_MAX_IMAGE_BYTES ({_MIB} MiB by default), "
             f"showing a face. {_IMAGE_REFUSED}")
    return {
        "requestBody": {
            "required": True,
            "content": {
                # form fields travel as text and cannot be null: leave one out for its default
                MULTIPART: {
                    "schema": schema({"type": "string", "format": "binary",
                                      "description": f"sent as a file (a part with a filename): {image}"},
                                     as_json=False),
                    "encoding": {name: {"contentType": _IMAGE_TYPES} for name in images},
                },
                "application/json": {
                    "schema": schema({"type": "string", "format": "byte", "description": f"base64 of {image}"},
                                     as_json=True)
                },
            },
        }
    }


def _only(name: str, one_of: tuple[str, ...], fields: dict[str, Any], as_json: bool) -> dict[str, Any]:
    """The oneOf branch where `name` is sent (not null) and the others are not: left out, or in JSON null where
    their field allows it (null means not sent). Each branch excludes the others, so a body fits exactly one."""
    nullable = {other for other in one_of if as_json and _allows_null(fields.get(other, {}))}
    others = [other for other in one_of if other != name]
    branch: dict[str, Any] = {"required": [name], "properties": {
        other: {"type": "null"} if other != name else {"not": {"type": "null"}} for other in nullable}}
    absent = [{"required": [other]} for other in others if other not in nullable]
    if absent:
        branch["not"] = {"anyOf": absent}
    return branch


def _allows_null(field: dict[str, Any]) -> bool:
    return any(option.get("type") == "null" for option in field.get("anyOf", []))


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
