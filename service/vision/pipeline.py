"""The one image -> faces -> aligned crops -> embeddings path, used by the service and by training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.config import FacePolicy, Settings
from service.errors import ErrorCode, FaceverError
from service.vision.align import align_face
from service.vision.detector import DetectedFace, MTCNNDetector
from service.vision.embedder import Embedder
from service.vision.face_choice import choose_faces
from service.vision.image_io import ImageLimits, decode_image


@dataclass(frozen=True)
class AlignedFace:
    """A detected face and its 112x96 template-aligned crop."""

    face: DetectedFace
    crop: np.ndarray


@dataclass(frozen=True)
class EmbeddedFace:
    """A detected face, its aligned crop and its L2-normalised embedding."""

    face: DetectedFace
    crop: np.ndarray
    embedding: np.ndarray


class FacePipeline:
    """Decode, detect, choose, align and embed; each stage is also callable on its own."""

    def __init__(
        self,
        detector: MTCNNDetector,
        embedder: Embedder | None,
        limits: ImageLimits | None = None,
        policy: FacePolicy = "largest",
    ) -> None:
        self.detector = detector
        self.embedder = embedder
        self.limits = limits or ImageLimits()
        self.policy = policy

    @classmethod
    def from_settings(cls, settings: Settings, *, with_embedder: bool = True) -> FacePipeline:
        embedder = Embedder.from_settings(settings) if with_embedder else None
        return cls(
            MTCNNDetector.from_settings(settings),
            embedder,
            ImageLimits.from_settings(settings),
            settings.face_policy,
        )

    def decode(self, data: bytes) -> np.ndarray:
        return decode_image(data, self.limits)

    def align(self, rgb: np.ndarray, policy: FacePolicy | None = None) -> list[AlignedFace]:
        """Detect, apply the face policy, and align what it keeps (empty when no face is found)."""
        faces = choose_faces(self.detector.detect(rgb), policy or self.policy, rgb.shape)
        return [AlignedFace(face, align_face(rgb, face.landmarks)) for face in faces]

    def embed(self, rgb: np.ndarray, policy: FacePolicy | None = None) -> list[EmbeddedFace]:
        """Every face the policy keeps, embedded in one batch."""
        if self.embedder is None:
            raise FaceverError(ErrorCode.model_unavailable, "this pipeline was built without an embedder")
        aligned = self.align(rgb, policy)
        if not aligned:
            return []
        vectors = self.embedder.embed(np.stack([item.crop for item in aligned]))
        return [EmbeddedFace(item.face, item.crop, vector) for item, vector in zip(aligned, vectors)]

    def embed_one(self, data: bytes, policy: FacePolicy | None = None) -> EmbeddedFace:
        """The single face a request is about (by the policy); no face is a `no_face` error."""
        faces = self.embed(self.decode(data), policy if policy != "all" else None)
        if not faces:
            raise FaceverError(ErrorCode.no_face, "no face was found in the image")
        return faces[0]
