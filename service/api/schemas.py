"""Pydantic request parameters and response bodies of the API (kept apart from the ORM models)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from service.db.models import Face, Identity
from service.vision.detector import DetectedFace

T = TypeVar("T")
# ids are int64 on every backend, but a JSON number is read as an IEEE double by many clients (JavaScript) and
# tools: 2**53 - 1 is the largest id every one of them reads exactly. A larger number is a 422, not a DB error.
MAX_ID = 2**53 - 1
MAX_METADATA_BYTES = 16 * 1024


def no_nul(value: str) -> str:
    # Postgres text cannot hold NUL; refuse it up front rather than fail in the database
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def as_utc(value: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC
    return value if value.tzinfo else value.replace(tzinfo=UTC)


Timestamp = Annotated[datetime, AfterValidator(as_utc)]
# the schema states what no_nul checks; the validator keeps its clearer message
NO_NUL = Field(json_schema_extra={"pattern": r"^[^\x00]*$"})
Text = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(no_nul), NO_NUL]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class _Params(BaseModel):
    # a misspelt field is an error, not silently ignored
    model_config = ConfigDict(extra="forbid")


FACE_POLICY_DOC = ("which face the image's answer is about, among the faces that pass the quality gate "
                   "(FACEVER_MIN_ENROL_FACE_SIZE, FACEVER_MIN_ENROL_DETECTION_SCORE)")


class VerifyParams(_Params):
    """Non-image fields of /v1/verify."""

    threshold: float | None = Field(None, ge=-1, le=1, description="overrides the model card's threshold")
    face_policy: Literal["largest", "centre"] = Field("largest", description=FACE_POLICY_DOC)
    identity_id: Id | None = Field(None, description="compare image_a with this enrolled identity, not image_b")


class FaceOut(BaseModel):
    """A detected face: box (x1, y1, x2, y2), detection score, five landmarks (x, y)."""

    box: list[float]
    score: float
    landmarks: list[list[float]]

    @classmethod
    def of(cls, face: DetectedFace) -> FaceOut:
        return cls(
            box=[round(float(v), 2) for v in face.box],
            score=round(float(face.score), 5),
            landmarks=[[round(float(x), 2), round(float(y), 2)] for x, y in face.landmarks],
        )


class IdentityRef(BaseModel):
    id: int
    name: str
    external_id: str | None

    @classmethod
    def of(cls, identity: Identity) -> IdentityRef:
        return cls(id=identity.id, name=identity.name, external_id=identity.external_id)


class VerifyResult(BaseModel):
    similarity: float = Field(description="cosine similarity of the two faces, in [-1, 1]")
    threshold: float | None = Field(description="the decision threshold used (null: the model has none)")
    match: bool | None = Field(description="similarity >= threshold; null when there is no threshold")
    model: str
    face_a: FaceOut
    face_b: FaceOut | None = Field(None, description="the face of image_b; null when verifying against an identity")
    identity: IdentityRef | None = Field(None, description="the identity verified against, if one was given")
    face_id: int | None = Field(None, description="that identity's enrolled face that matched best")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, bool]
    warnings: list[str] = Field(
        default_factory=list, description="what needs an operator without stopping service, e.g. faces to re-embed"
    )


class IdentityCreate(_Params):
    name: Text
    external_id: Text | None = Field(None, description="your own unique key for this person")
    metadata: dict[str, Any] | None = Field(None, description=f"any JSON object up to {MAX_METADATA_BYTES} bytes")

    @field_validator("metadata")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON")
        return value


class IdentityUpdate(IdentityCreate):
    """Only the fields sent change; external_id and metadata may be sent as null to clear them."""

    # optional but never null: pydantic does not validate the default, and the schema says string (no null)
    name: Text = Field(None, description="omit to keep the name")  # type: ignore[assignment]


class IdentityOut(IdentityRef):
    metadata: dict[str, Any]
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, identity: Identity) -> IdentityOut:
        return cls(id=identity.id, name=identity.name, external_id=identity.external_id,
                   metadata=identity.meta or {}, created_at=identity.created_at, updated_at=identity.updated_at)


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="rows matching the filters, over all pages")
    offset: int
    limit: int


class FaceRecord(BaseModel):
    """An enrolled face (without its embedding)."""

    id: int
    identity_id: int
    embedder: str
    score: float
    box: list[float]
    landmarks: list[list[float]]
    image_sha256: str
    created_at: Timestamp

    @classmethod
    def of(cls, face: Face) -> FaceRecord:
        return cls(id=face.id, identity_id=face.identity_id, embedder=face.embedder, score=face.det_score,
                   box=face.box, landmarks=face.landmarks, image_sha256=face.image_sha256,
                   created_at=face.created_at)


class EnrolParams(_Params):
    """Non-image fields of face enrolment."""

    pick_largest: bool = Field(False, description="enrol the largest face of an image showing several")


class ImageResult(BaseModel):
    """What became of one uploaded image, in upload order."""

    index: int
    status: Literal["enrolled", "rejected"]
    reason: str | None = Field(None, description="no_face, multiple_faces, face_too_small, low_detection_score, "
                                                 "invalid_image, image_too_large, unsupported_format, duplicate_image")
    message: str | None = None
    face_id: int | None = Field(None, description="the new face, or for a duplicate the face already stored")
    image_sha256: str | None = None
    face: FaceOut | None = None


class EnrolResult(BaseModel):
    identity_id: int
    enrolled: int
    rejected: int
    results: list[ImageResult]


class IdentifyParams(_Params):
    """Non-image fields of /v1/identify."""

    top_k: int = Field(5, ge=1, le=100, description="candidates returned per face")
    threshold: float | None = Field(None, ge=-1, le=1, description="overrides the model card's threshold")
    face_policy: Literal["largest", "centre"] = Field("largest", description=FACE_POLICY_DOC)
    all_faces: bool = Field(False, description="identify every detected face (the answer then has `faces`)")


class CandidateOut(BaseModel):
    identity: IdentityRef
    similarity: float
    face_id: int = Field(description="the identity's enrolled face that matched best")


class FaceIdentification(BaseModel):
    face: FaceOut
    candidates: list[CandidateOut] = Field(description="best first, one per identity")
    match: CandidateOut | None = Field(description="the best candidate at or above the threshold, else null")


class IdentifyResult(FaceIdentification):
    model: str
    threshold: float | None


class IdentifyAllResult(BaseModel):
    model: str
    threshold: float | None
    faces: list[FaceIdentification]
