"""Read a request's images and fields from multipart/form-data or from JSON with base64 images."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from service.errors import ErrorCode, FaceverError

MULTIPART = "multipart/form-data"
# a data URL's header, e.g. "data:image/jpeg;base64," (the media type is not checked: decoding sniffs the format)
_DATA_URL = re.compile(r"data:[^,]*;base64,", re.IGNORECASE)


async def read_body(
    request: Request, image_fields: tuple[str, ...], max_image_bytes: int, max_images: int | None = None
) -> dict[str, Any]:
    """The request's fields as a dict; image fields hold raw bytes (multipart files or base64 strings).

    `max_images` is how many images the route takes at most (default: one per image field); the whole body may
    hold that many images of the per-image limit. Bytes are capped while reading, so an oversized upload is
    refused without holding it in memory.
    """
    images = max_images or max(len(image_fields), 1)
    request_limit = body_limit(max_image_bytes, images)
    declared = int(request.headers.get("content-length") or 0)
    if declared > request_limit:
        raise FaceverError(
            ErrorCode.image_too_large,
            f"the request body ({declared} bytes) is larger than this route's request limit of {request_limit} bytes "
            f"({images} image(s) of at most {max_image_bytes} bytes each, FACEVER_MAX_IMAGE_BYTES)",
            limit=request_limit, image_limit=max_image_bytes, max_images=images,
        )
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(MULTIPART):
        return await _read_multipart(request, image_fields, max_image_bytes)
    if sent_as_json(request):
        return _read_json(await request.body(), image_fields, max_image_bytes)
    raise FaceverError(
        ErrorCode.unsupported_media_type,
        "send multipart/form-data (image files) or application/json (base64 images)",
        content_type=content_type,
    )


def body_limit(max_image_bytes: int, images: int) -> int:
    """Bytes a request body of `images` images of at most `max_image_bytes` each may have."""
    return int(max_image_bytes * images * 4 / 3) + 65536  # base64 inflates by 4/3; 64 KiB for the rest


def sent_as_json(request: Request) -> bool:
    """Whether the body is JSON (typed values, base64 images) rather than a multipart form (text and files)."""
    return request.headers.get("content-type", "").startswith("application/json")


async def _read_multipart(request: Request, image_fields: tuple[str, ...], limit: int) -> dict[str, Any]:
    body: dict[str, Any] = {}
    async with request.form() as form:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name not in image_fields:
                    raise FaceverError(ErrorCode.unexpected_field, f"unexpected file field {name!r}", field=name)
                data = await value.read(limit + 1)
                _check_size(name, data, limit)
                body.setdefault(name, []).append(data)
            elif name in image_fields:
                # a part without a filename reaches us as text, its bytes decoded: it cannot be an image
                raise FaceverError(ErrorCode.validation_error, f"send {name!r} as a file: a form-data part with a "
                                   f"filename (e.g. curl -F '{name}=@photo.jpg')", field=name)
            else:
                body[name] = value
    # one file per field unless the route asks for lists (it then reads the list itself)
    return {key: value[0] if isinstance(value, list) and len(value) == 1 else value for key, value in body.items()}


def _read_json(raw: bytes, image_fields: tuple[str, ...], limit: int) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FaceverError(ErrorCode.invalid_request, f"the body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise FaceverError(ErrorCode.invalid_request, "the JSON body must be an object")
    for name in image_fields:
        if name in body:
            body[name] = _decode_base64(name, body[name], limit)
    return body


def _decode_base64(name: str, value: Any, limit: int) -> bytes | list[bytes]:
    if isinstance(value, list):
        return [_decode_base64(name, item, limit) for item in value]  # type: ignore[misc]
    if not isinstance(value, str):
        raise FaceverError(ErrorCode.invalid_request, f"{name!r} must be a base64 string", field=name)
    value = "".join(value.split())  # line breaks (`base64` wraps at 76 columns) and other whitespace
    header = _DATA_URL.match(value)
    if header:
        value = value[header.end():]
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise FaceverError(ErrorCode.invalid_image, f"{name!r} is not valid base64", field=name) from None
    _check_size(name, data, limit)
    return data


def _check_size(name: str, data: bytes, limit: int) -> None:
    if len(data) > limit:
        raise FaceverError(ErrorCode.image_too_large, f"an image in {name!r} is larger than the per-image limit of "
                           f"{limit} bytes (FACEVER_MAX_IMAGE_BYTES)", field=name, limit=limit)
