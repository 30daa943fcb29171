"""Pydantic request parameters and response bodies of the API (kept apart from the ORM models)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from service.db.models import Face, Identity
from service.gallery.gallery import Candidate
from service.vision.detector import DetectedFace
from service.vision.face_choice import SIMILAR_AREA_RATIO

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


FAR_DOC = ("the false-accept rate the decision should keep (e.g. 0.001: about 1 impostor in 1,000 accepted); the "
           "service turns it into the model's calibrated threshold for this decision. Default: the model card's "
           "default_far. Send far or threshold, not both; a model without FAR calibration refuses far "
           "(validation_error)")
THRESHOLD_DOC = ("a threshold on `score` to use as is, instead of one named by its false-accept rate (far)")
SCORE_DOC = ("what thresholds apply to: the similarity, corrected by how much each side resembles faces in general "
             "when the model ships a score-normalisation cohort (similarity - (m_a + m_b) / 2, m the mean of a "
             "side's 10 highest cosines with the cohort); equal to the similarity for a model without one")
MIN_FAR = 1e-9  # the smallest FAR a request may name: thresholds below it are all but 1
Far = Annotated[float, Field(ge=MIN_FAR, le=0.1, description=FAR_DOC)]


STRICTNESS = ("far", "threshold")  # a request sets how strict its decision is by one of these, not both


class _Decided(_Params):
    """The two ways a request may set how strict its decision is."""

    far: Far | None = None
    threshold: float | None = Field(None, ge=-1, le=1, description=THRESHOLD_DOC)

    @field_validator("threshold")
    @classmethod
    def _not_with_far(cls, threshold: float | None, info: ValidationInfo) -> float | None:
        if threshold is not None and info.data.get("far") is not None:
            raise ValueError("send far or threshold, not both")
        return threshold


FACE_POLICY_DOC = ("which face the image's answer is about, among the faces that pass the quality gate "
                   "(FACEVER_MIN_ENROL_FACE_SIZE, FACEVER_MIN_ENROL_DETECTION_SCORE)")
ReturnCrops = Annotated[bool, Field(description="also return each face's aligned crop (the embedder's input) as "
                                               "a JPEG data URL, about 5 KB per face")]
Crop = Annotated[str | None, Field(description="the face's 112x96 aligned crop as a `data:image/jpeg;base64,` URL; "
                                               "only with return_crops")]


class VerifyParams(_Decided):
    """Non-image fields of /v1/verify."""

    face_policy: Literal["largest", "centre"] = Field("largest", description=FACE_POLICY_DOC)
    identity_id: Id | None = Field(None, description="compare image_a with this enrolled identity, not image_b")
    return_crops: ReturnCrops = False


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

    @classmethod
    def of_candidate(cls, candidate: Candidate) -> IdentityRef:
        return cls(id=candidate.identity_id, name=candidate.name, external_id=candidate.external_id)


FAR_RESULT_DOC = ("the false-accept rate the threshold was calibrated for (null: an explicit threshold, or a "
                  "model without FAR calibration)")


class VerifyResult(BaseModel):
    similarity: float = Field(description="cosine similarity of the two faces, or of image_a's face and the "
                                          "identity's template (the normalised mean of its faces), in [-1, 1]")
    score: float = Field(description=SCORE_DOC)
    threshold: float | None = Field(description="the decision threshold on score (null: the model has none)")
    far: float | None = Field(description=FAR_RESULT_DOC)
    match: bool | None = Field(description="score >= threshold; null when there is no threshold")
    model: str
    face_a: FaceOut
    face_b: FaceOut | None = Field(None, description="the face of image_b; null when verifying against an identity")
    identity: IdentityRef | None = Field(None, description="the identity verified against, if one was given")
    face_id: int | None = Field(None, description="that identity's enrolled face most similar to image_a's")
    enrolled_faces: int | None = Field(None, description="faces in that identity's template")
    crop_a: Crop = None
    crop_b: Crop = None


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
    faces: int = Field(description="enrolled faces of the active model: the size of the identity's template")
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, identity: Identity, faces: int) -> IdentityOut:
        return cls(id=identity.id, name=identity.name, external_id=identity.external_id,
                   metadata=identity.meta or {}, faces=faces, created_at=identity.created_at,
                   updated_at=identity.updated_at)


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

    pick_largest: bool = Field(False, description="enrol the largest face even when the second-largest has "
                                                  f"{SIMILAR_AREA_RATIO:.0%} or more of its area (such an image is "
                                                  "otherwise refused as multiple_faces)")


class EnrolWarning(BaseModel):
    """An enrolled face that looks more like another identity than like this one: a likely mis-enrolment."""

    code: Literal["closer_to_other_identity"] = "closer_to_other_identity"
    message: str
    identity: IdentityRef = Field(description="the other identity")
    face_id: int = Field(description="its face most similar to the new one")
    similarity: float = Field(description="cosine similarity to its template (the normalised mean of its faces)")
    score: float = Field(description="the face's score against that template, as /identify scores it")
    own_score: float | None = Field(description="the face's score against the template of this identity's other "
                                                "faces; null when it had none (then the warning means the face "
                                                "reaches the identify threshold for the other identity)")


class ImageResult(BaseModel):
    """What became of one uploaded image, in upload order."""

    index: int
    status: Literal["enrolled", "rejected"]
    reason: str | None = Field(None, description="no_face, multiple_faces, face_too_small, low_detection_score, "
                                                 "invalid_image, image_too_large, unsupported_format, duplicate_image")
    message: str | None = None
    face_id: int | None = Field(None, description="the new face, or for a duplicate the face already stored")
    image_sha256: str | None = None
    face: FaceOut | None = Field(None, description="the face enrolled (or, for a duplicate, already stored)")
    ignored_faces: list[FaceOut] = Field(
        default_factory=list,
        description="faces of the image that passed the quality gate but were not enrolled, largest first: beside "
                    f"an enrolled `face`, the others (each under {SIMILAR_AREA_RATIO:.0%} of its area, unless "
                    "pick_largest was set); in a multiple_faces refusal, every such face, so the ambiguity shows")
    warning: EnrolWarning | None = Field(None, description="set when the face matches another identity better "
                                                           "than this one")


class EnrolResult(BaseModel):
    identity_id: int
    enrolled: int
    rejected: int
    results: list[ImageResult]


class IdentifyParams(_Decided):
    """Non-image fields of /v1/identify; `far` bounds the chance that a never-enrolled person gets a match."""

    top_k: int = Field(5, ge=1, le=100, description="candidates returned per face")
    face_policy: Literal["largest", "centre"] = Field("largest", description=FACE_POLICY_DOC)
    all_faces: bool = Field(False, description="identify every detected face (the answer then has `faces`)")
    return_crops: ReturnCrops = False


class CandidateOut(BaseModel):
    identity: IdentityRef
    similarity: float = Field(description="cosine similarity to the identity's template (mean of its faces)")
    score: float = Field(description=SCORE_DOC)
    face_id: int = Field(description="the identity's enrolled face most similar to the probe")
    enrolled_faces: int = Field(description="faces in the identity's template")
    threshold: float | None = Field(description="the threshold this candidate must reach to be the match")


class FaceIdentification(BaseModel):
    face: FaceOut
    candidates: list[CandidateOut] = Field(description="best score first, one per identity")
    match: CandidateOut | None = Field(description="the best candidate if it reaches its threshold, else null")
    threshold: float | None = Field(description="the threshold the best candidate had to reach (with no "
                                                "candidate: the one a 1-face identity would have to reach)")
    crop: Crop = None


IDENTIFY_FAR_DOC = ("the chance that a person who was never enrolled gets a match (FPIR; null: an explicit "
                    "threshold, or a model without FAR calibration); each candidate is held to a per-comparison "
                    "FAR calibrated for this many identities, about this FAR divided by their number")


class IdentifyResult(FaceIdentification):
    model: str
    far: float | None = Field(description=IDENTIFY_FAR_DOC)
    identities: int = Field(description="identities searched (with a face of this model)")


class IdentifyAllResult(BaseModel):
    model: str
    far: float | None = Field(description=IDENTIFY_FAR_DOC)
    identities: int = Field(description="identities searched (with a face of this model)")
    faces: list[FaceIdentification]


class KeyOut(BaseModel):
    """An API key as listed; the key itself is never shown again after creation."""

    id: int
    name: str
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    role: Literal["admin", "client"]
    revoked: bool
    created_at: Timestamp


class KeyCreate(_Params):
    name: Text = Field(description="who or what uses the key")
    role: Literal["admin", "client"] = "client"


class KeyCreated(KeyOut):
    key: str = Field(description="the new key; shown only in this response (only its hash is stored)")


class SepSummary(BaseModel):
    mean: float = Field(description="mean over identities of Sep_i; smaller = better separated")
    std: float = Field(description="population standard deviation of Sep_i")


class NeighbourOut(BaseModel):
    identity: IdentityRef
    faces: int = Field(description="its faces of the active model")
    nearest: IdentityRef = Field(description="the other identity whose centre is nearest")
    cosine: float = Field(description="Sep_i: the cosine between the two centres")


class ConfusablePairOut(BaseModel):
    identity_a: IdentityRef
    identity_b: IdentityRef
    cosine: float = Field(description="the cosine between the two identities' centres")
    face_a: int = Field(description="identity_a's face closest to a face of identity_b")
    face_b: int = Field(description="that face of identity_b")
    face_similarity: float = Field(description="the cosine between face_a and face_b")
    face_score: float = Field(description="face_a against face_b as /verify scores two photos (what the identify "
                                          "threshold applies to)")


class StrayFaceOut(BaseModel):
    identity: IdentityRef = Field(description="the identity the face is enrolled under")
    face_id: int
    own_cosine: float = Field(description="cosine to its identity's centre, computed without this face")
    nearest: IdentityRef = Field(description="the other identity whose centre is nearer")
    cosine: float = Field(description="cosine to that identity's centre")


class GalleryHealth(BaseModel):
    model: str
    identities: int = Field(description="identities with at least one face of the active model")
    faces: int
    sep: SepSummary | None = Field(description="null with fewer than two identities")
    identify_threshold: float | None = Field(description="what /v1/identify accepts by default from an identity "
                                                         "of one face in a gallery this size, for scale")
    neighbours: PageOut[NeighbourOut] = Field(description="each identity's nearest other one, highest Sep_i first")
    pairs: list[ConfusablePairOut] = Field(description="the most confusable pairs, each once, most confusable first")
    strays: list[StrayFaceOut] = Field(description="faces nearer another identity than their own (likely "
                                                   "mis-enrolments), largest lead first; identities with one face "
                                                   "have nothing to compare with and are left out")
    strays_total: int
