"""The one list of error codes facever answers with, each bound to its HTTP status."""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorCode(str, Enum):
    """Every error code a client can see; the value is the code, `status` its HTTP status."""

    # image input
    invalid_image = "invalid_image"
    image_too_large = "image_too_large"
    unsupported_format = "unsupported_format"
    # faces
    no_face = "no_face"
    multiple_faces = "multiple_faces"
    # configuration / models
    model_unavailable = "model_unavailable"
    invalid_model = "invalid_model"
    device_unavailable = "device_unavailable"

    @property
    def status(self) -> int:
        return _STATUS[self]


_STATUS: dict[ErrorCode, int] = {
    ErrorCode.invalid_image: 400,
    ErrorCode.image_too_large: 413,
    ErrorCode.unsupported_format: 415,
    ErrorCode.no_face: 422,
    ErrorCode.multiple_faces: 422,
    ErrorCode.model_unavailable: 503,
    ErrorCode.invalid_model: 500,
    ErrorCode.device_unavailable: 500,
}


class FaceverError(Exception):
    """An error with a stable code, a human message and optional structured details."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def __repr__(self) -> str:
        return f"FaceverError({self.code.value!r}, {self.message!r})"
