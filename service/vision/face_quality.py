"""The quality gate every request's faces pass before one is chosen: a smallest box side and a lowest score."""

from __future__ import annotations

from dataclasses import dataclass

from service.config import Settings
from service.errors import ErrorCode, FaceverError
from service.vision.detector import DetectedFace


@dataclass(frozen=True)
class FaceGate:
    """Faces a request may use: shorter box side >= min_size px and detection score >= min_score.

    The defaults let every face through; the service's gate comes from `from_settings`.
    """

    min_size: float = 0.0
    min_score: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> FaceGate:
        return cls(settings.min_enrol_face_size, settings.min_enrol_detection_score)

    def problem(self, face: DetectedFace) -> FaceverError | None:
        """Why `face` fails the gate (face_too_small or low_detection_score), or None when it passes."""
        x1, y1, x2, y2 = (float(v) for v in face.box)
        side = min(x2 - x1, y2 - y1)
        if side < self.min_size:
            return FaceverError(ErrorCode.face_too_small, f"the face is {side:.0f} px, less than {self.min_size:g} px")
        if face.score < self.min_score:
            return FaceverError(ErrorCode.low_detection_score,
                                f"detection score {face.score:.3f} is below {self.min_score:g}")
        return None

    def require(self, faces: list[DetectedFace]) -> list[DetectedFace]:
        """The faces that pass, in the given order; raises no_face when there are none at all, else, when
        none passes, the largest face's problem."""
        if not faces:
            raise FaceverError(ErrorCode.no_face, "no face was found in the image")
        passing = [face for face in faces if self.problem(face) is None]
        if not passing:
            raise self.problem(max(faces, key=lambda face: face.area))  # type: ignore[misc]
        return passing
