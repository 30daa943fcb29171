"""Enrolment of uploaded images: one checked face per image, embedded in one batch, stored together."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from service.api.crops import crop_jpeg
from service.api.enrol_warnings import lookalike_warnings
from service.api.schemas import FaceOut, ImageResult
from service.config import Settings
from service.errors import ErrorCode, FaceverError
from service.gallery import repository
from service.gallery.gallery import Gallery
from service.gallery.repository import NewFace
from service.vision.detector import DetectedFace
from service.vision.face_choice import enrolment_face
from service.vision.pipeline import AlignedFace, FacePipeline


@dataclass(frozen=True)
class _Checked:
    """One image after the checks: its chosen aligned face, or why it was rejected."""

    sha256: str
    aligned: AlignedFace | None = None
    ignored: tuple[DetectedFace, ...] = ()  # usable faces not enrolled: the others, or all of an ambiguous image
    reason: ErrorCode | None = None
    message: str | None = None


def enrol_images(
    pipeline: FacePipeline, gallery: Gallery, settings: Settings, identity_id: int, images: list[bytes],
    pick_largest: bool = False, *, force_hint: str = "send pick_largest=true to enrol the largest",
) -> list[ImageResult]:
    """Enrol what can be enrolled and say, per image in order, what became of it (partial success).

    Each image enrols the face `enrolment_face` chooses; a `multiple_faces` refusal's message ends with
    `force_hint`, how the caller's interface forces the largest face. Blocking (pipeline and SQL): call it
    from a worker thread.
    """
    with gallery.session_factory() as session:  # an unknown identity is a 404 before any pipeline work
        repository.get_identity(session, identity_id)
    checked = [_check(pipeline, data, pick_largest, force_hint) for data in images]
    accepted = [item for item in checked if item.aligned is not None]
    vectors = pipeline.embedder.embed(np.stack([item.aligned.crop for item in accepted])) if accepted else []
    new_faces = [_new_face(item, vector, settings.store_crops) for item, vector in zip(accepted, vectors)]
    # before storing: the new faces must not count as the identity's own faces, nor as search hits
    warned = iter(lookalike_warnings(gallery, identity_id, vectors, [item.sha256 for item in accepted],
                                     pipeline.embedder.card) if accepted else [])
    added = iter(gallery.enrol(identity_id, new_faces) if new_faces else [])
    results = []
    for index, item in enumerate(checked):
        if item.aligned is None:
            results.append(ImageResult(index=index, status="rejected", reason=item.reason.value,
                                       message=item.message, image_sha256=item.sha256,
                                       ignored_faces=[FaceOut.of(face) for face in item.ignored]))
            continue
        outcome, warning = next(added), next(warned)
        duplicate = outcome.duplicate  # then face_id is the face already stored
        results.append(ImageResult(
            index=index, status="rejected" if duplicate else "enrolled",
            reason=ErrorCode.duplicate_image.value if duplicate else None,
            message="this image is already enrolled for this identity" if duplicate else None,
            face_id=outcome.face_id, image_sha256=item.sha256, face=FaceOut.of(item.aligned.face),
            ignored_faces=[FaceOut.of(face) for face in item.ignored], warning=None if duplicate else warning))
    return results


def _check(pipeline: FacePipeline, data: bytes, pick_largest: bool, force_hint: str) -> _Checked:
    """The face an image enrols: by `enrolment_face`, among the faces that pass the quality gate."""
    sha = hashlib.sha256(data).hexdigest()
    usable: list[DetectedFace] = []
    try:
        rgb = pipeline.decode(data)
        # tiny or doubtful background faces are common in real photos: only good faces can make it ambiguous
        usable = pipeline.usable_faces(rgb)
        chosen = enrolment_face(usable, pick_largest)
    except FaceverError as error:  # invalid_image, ..., no_face, the gate's codes, multiple_faces
        if error.code != ErrorCode.multiple_faces:
            return _Checked(sha, reason=error.code, message=error.message)
        # the faces that made it ambiguous, so the caller sees what was found
        found = tuple(sorted(usable, key=lambda face: face.area, reverse=True))
        return _Checked(sha, ignored=found, reason=error.code, message=f"{error.message}; {force_hint}")
    return _Checked(sha, aligned=AlignedFace.of(rgb, chosen.face), ignored=tuple(chosen.ignored))


def _new_face(item: _Checked, vector: np.ndarray, store_crop: bool) -> NewFace:
    face = item.aligned.face  # type: ignore[union-attr]
    return NewFace(embedding=vector, score=float(face.score), box=face.box.tolist(),
                   landmarks=face.landmarks.tolist(), crop_jpeg=crop_jpeg(item.aligned.crop) if store_crop else None,
                   image_sha256=item.sha256)

