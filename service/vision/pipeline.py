"""The one image -> faces -> aligned crops -> embeddings path, used by the service and by training."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from service.config import FacePolicy, Settings
from service.errors import ErrorCode, FaceverError
from service.vision.align import align_face
from service.vision.detector import DetectedFace, MTCNNDetector
from service.vision.embedder import Embedder
from service.vision.face_choice import choose_faces
from service.vision.face_quality import FaceGate
from service.vision.image_io import ImageLimits, decode_image


@dataclass(frozen=True)
class AlignedFace:
    """A detected face and its 112x96 template-aligned crop."""

    face: DetectedFace
    crop: np.ndarray

    @classmethod
    def of(cls, rgb: np.ndarray, face: DetectedFace) -> AlignedFace:
        """`face` of the HxWx3 RGB image, aligned."""
        return cls(face, align_face(rgb, face.landmarks))


@dataclass(frozen=True)
class EmbeddedFace:
    """A detected face, its aligned crop and its L2-normalised embedding."""

    face: DetectedFace
    crop: np.ndarray
    embedding: np.ndarray


class FacePipeline:
    """Decode, detect, choose, align and embed; each stage is also callable on its own.

    What a request uses (`align_one`, `embed_one`, `embed_each`, `align_usable`) is chosen by the policy
    among the faces that pass the quality gate; `align` and `embed` choose among every detected face.
    """

    def __init__(
        self,
        detector: MTCNNDetector,
        embedder: Embedder | None,
        limits: ImageLimits | None = None,
        policy: FacePolicy = "largest",
        gate: FaceGate | None = None,
        concurrent_decodes: int = 0,
    ) -> None:
        self.detector = detector
        self.embedder = embedder
        self.limits = limits or ImageLimits()
        self.policy = policy
        self.gate = gate or FaceGate()
        # a decode briefly holds up to ~30 bytes a pixel (docs/reliability.md): many at once could exhaust memory,
        # and more than the cores at once decode no faster
        self._decode_slots = threading.BoundedSemaphore(concurrent_decodes or len(os.sched_getaffinity(0)))

    @classmethod
    def from_settings(cls, settings: Settings, *, with_embedder: bool = True) -> FacePipeline:
        embedder = Embedder.from_settings(settings) if with_embedder else None
        return cls(
            MTCNNDetector.from_settings(settings),
            embedder,
            ImageLimits.from_settings(settings),
            settings.face_policy,
            FaceGate.from_settings(settings),
            settings.concurrent_decodes,
        )

    def decode(self, data: bytes) -> np.ndarray:
        """Bytes -> HxWx3 uint8 RGB (decode_image); waits while `concurrent_decodes` other images decode."""
        with self._decode_slots:
            return decode_image(data, self.limits)

    def align(self, rgb: np.ndarray, policy: FacePolicy | None = None) -> list[AlignedFace]:
        """Detect, apply the face policy, and align what it keeps (empty when no face is found)."""
        faces = choose_faces(self.detector.detect(rgb), policy or self.policy, rgb.shape)
        return [AlignedFace.of(rgb, face) for face in faces]

    def usable_faces(self, rgb: np.ndarray) -> list[DetectedFace]:
        """The detected faces that pass the quality gate; `no_face` when none is found, and when none passes,
        the largest face's problem (`face_too_small`, `low_detection_score`)."""
        return self.gate.require(self.detector.detect(rgb))

    def align_usable(self, rgb: np.ndarray, policy: FacePolicy | None = None) -> list[AlignedFace]:
        """Detect, keep the faces that pass the gate, apply the face policy to them, and align what it keeps."""
        faces = choose_faces(self.usable_faces(rgb), policy or self.policy, rgb.shape)
        return [AlignedFace.of(rgb, face) for face in faces]

    def align_one(self, data: bytes, policy: FacePolicy | None = None) -> AlignedFace:
        """Decode, detect and align the single face a request is about (by the policy, among usable faces)."""
        return self.align_usable(self.decode(data), policy if policy != "all" else None)[0]

    def embed_aligned(self, aligned: Sequence[AlignedFace]) -> list[EmbeddedFace]:
        """Aligned faces, from one image or several, embedded in one embedder run."""
        embedder = self._require_embedder()
        if not aligned:
            return []
        vectors = embedder.embed(np.stack([item.crop for item in aligned]))
        return [EmbeddedFace(item.face, item.crop, vector) for item, vector in zip(aligned, vectors)]

    def embed(self, rgb: np.ndarray, policy: FacePolicy | None = None) -> list[EmbeddedFace]:
        """Every face the policy keeps, embedded in one batch."""
        self._require_embedder()  # before the detector's work, not after
        return self.embed_aligned(self.align(rgb, policy))

    def embed_one(self, data: bytes, policy: FacePolicy | None = None) -> EmbeddedFace:
        """The single face a request is about (by the policy, among the faces that pass the gate)."""
        self._require_embedder()
        return self.embed_aligned([self.align_one(data, policy)])[0]

    def embed_each(self, images: Mapping[str, bytes], policy: FacePolicy | None = None) -> dict[str, EmbeddedFace]:
        """The single face of each named image: decoded, detected and aligned concurrently (a thread per
        image; ONNX Runtime and OpenCV release the GIL), then all embedded in ONE embedder run.

        An image's error is re-raised naming it (message prefix, details `field`); when several images
        fail, the first in `images` order is reported, as if they had run one after another.
        """
        self._require_embedder()
        with ThreadPoolExecutor(max_workers=max(1, len(images)), thread_name_prefix="facever-align") as pool:
            futures = {name: pool.submit(self.align_one, data, policy) for name, data in images.items()}
        aligned = {}
        for name, future in futures.items():
            try:
                aligned[name] = future.result()
            except FaceverError as error:
                raise FaceverError(error.code, f"{name}: {error.message}",
                                   **{**error.details, "field": name}) from error
        return dict(zip(aligned, self.embed_aligned(list(aligned.values()))))

    def _require_embedder(self) -> Embedder:
        if self.embedder is None:
            raise FaceverError(ErrorCode.model_unavailable, "this pipeline was built without an embedder")
        return self.embedder
