"""The one list of error codes facever answers with, each bound to its HTTP status."""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorCode(str, Enum):
    """Every error code a client can see; the value is the code, `status` its HTTP status."""

    # request shape
    invalid_request = "invalid_request"
    method_not_allowed = "method_not_allowed"
    validation_error = "validation_error"
    unexpected_field = "unexpected_field"
    unsupported_media_type = "unsupported_media_type"
    body_timeout = "body_timeout"
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
    # gallery / storage
    not_found = "not_found"
    conflict = "conflict"
    duplicate_image = "duplicate_image"
    database_not_migrated = "database_not_migrated"
    database_unavailable = "database_unavailable"
    # enrolment (also per-image rejection reasons)
    face_too_small = "face_too_small"
    low_detection_score = "low_detection_score"
    enrolment_failed = "enrolment_failed"
    identity_without_faces = "identity_without_faces"
    # auth
    unauthorized = "unauthorized"
    forbidden = "forbidden"
    # a bug in facever, logged with its traceback under the request id
    internal_error = "internal_error"

    @property
    def status(self) -> int:
        return _STATUS[self]


_STATUS: dict[ErrorCode, int] = {
    ErrorCode.invalid_request: 400,
    ErrorCode.method_not_allowed: 405,
    ErrorCode.validation_error: 422,
    ErrorCode.unexpected_field: 422,
    ErrorCode.unsupported_media_type: 415,
    ErrorCode.body_timeout: 408,
    ErrorCode.invalid_image: 400,
    ErrorCode.image_too_large: 413,
    ErrorCode.unsupported_format: 415,
    ErrorCode.no_face: 422,
    ErrorCode.multiple_faces: 422,
    ErrorCode.model_unavailable: 503,
    ErrorCode.invalid_model: 500,
    ErrorCode.device_unavailable: 500,
    ErrorCode.not_found: 404,
    ErrorCode.conflict: 409,
    ErrorCode.duplicate_image: 409,
    ErrorCode.database_not_migrated: 503,
    ErrorCode.database_unavailable: 503,
    ErrorCode.face_too_small: 422,
    ErrorCode.low_detection_score: 422,
    ErrorCode.enrolment_failed: 422,
    ErrorCode.identity_without_faces: 409,
    ErrorCode.unauthorized: 401,
    ErrorCode.forbidden: 403,
    ErrorCode.internal_error: 500,
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
