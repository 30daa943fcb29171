"""The distillation teacher: dlib's face recognition ResNet (128-D) on its own 5-point alignment.

The teacher sees a face the way dlib's published accuracy was measured: dlib's 5-point shape predictor
run inside a face box in dlib's frontal-detector convention, dlib's 150x150 chip (padding 0.25), and the
ResNet descriptor. Our faces come with MTCNN boxes, which sit differently (narrower, taller, higher)
than dlib's detector boxes; `MTCNN_TO_DLIB` maps one onto the other (measured on LFW, see
`measure_box_map`). Training faces are kept as a *loose crop* (a square around the MTCNN box) plus that
box, so the teacher can run long after the source images are gone. Training-time only: the service never
imports this module (it needs the `distill` extra: dlib-bin + face-recognition-models, CC0 1.0).
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

TEACHER_NAME = "dlib_face_recognition_resnet_model_v1"
TEACHER_DIM = 128
LOOSE_SIZE = 160  # pixels of the square loose crop kept per training face
LOOSE_SCALE = 2.0  # loose crop side / the MTCNN box's longer side: room for dlib's chip at any roll
CHIP_SIZE, CHIP_PADDING = 150, 0.25  # dlib's face-recognition chip
PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"  # not the 68-point one: its data is non-commercial
DESCRIPTOR_FILE = f"{TEACHER_NAME}.dat"

# dlib box from an MTCNN box of width w and height h: centre shifted by (dx*w, dy*h), size (sw*w, sh*h).
# Medians over 398 LFW faces found by both detectors (`python -m training.distill.teacher --box-map`).
MTCNN_TO_DLIB = (-0.036, 0.046, 1.127, 0.842)
LOOSE, PHOTO, HOG = "loose", "photo", "hog"  # where the LFW teacher's chip comes from (training.distill.lfw)
HOG_MIN_IOU = 0.3  # a HOG box overlapping the mapped MTCNN box less than this is another face


def models_dir() -> Path:
    """The folder of face-recognition-models' .dat files, found without importing the package (pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the teacher needs the distill extra: pip install -e '.[distill]' "
                                  "(dlib-bin, face-recognition-models)", name="face_recognition_models")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def loose_crop(rgb: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A LOOSE_SIZE square around an MTCNN box (side LOOSE_SCALE x its longer side, black outside the image).

    rgb: (H, W, 3) uint8; box: (4,) x1, y1, x2, y2 in rgb's pixels. Returns the (L, L, 3) uint8 crop and
    the box in the crop's pixels, (4,) float32.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    side = LOOSE_SCALE * max(x2 - x1, y2 - y1, 1.0)
    scale = LOOSE_SIZE / side
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    matrix = np.array([[scale, 0, LOOSE_SIZE / 2 - scale * cx], [0, scale, LOOSE_SIZE / 2 - scale * cy]])
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(rgb, matrix, (LOOSE_SIZE, LOOSE_SIZE), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    corners = np.array([[x1, y1, 1], [x2, y2, 1]]) @ matrix.T
    return crop, corners.reshape(4).astype(np.float32)


def dlib_box(box: np.ndarray) -> tuple[int, int, int, int]:
    """An MTCNN box (x1, y1, x2, y2) mapped to dlib's frontal-detector convention, as integer l, t, r, b."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    dx, dy, sw, sh = MTCNN_TO_DLIB
    cx, cy = (x1 + x2) / 2 + dx * w, (y1 + y2) / 2 + dy * h
    return round(cx - sw * w / 2), round(cy - sh * h / 2), round(cx + sw * w / 2), round(cy + sh * h / 2)


@dataclass(frozen=True)
class TeacherFiles:
    """The two dlib model files the teacher runs, and their sha256 (a cache names them)."""

    predictor: Path
    descriptor: Path

    @classmethod
    def installed(cls) -> TeacherFiles:
        root = models_dir()
        return cls(root / PREDICTOR_FILE, root / DESCRIPTOR_FILE)

    def sha256(self) -> dict[str, str]:
        return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in (self.predictor, self.descriptor)}


class DlibTeacher:
    """dlib's 5-point predictor + 150x150 chip + ResNet descriptor; `embed` gives unit 128-D vectors.

    dlib compares descriptors by Euclidean distance (0.6 threshold); we use them L2-normalised and compare by
    cosine, as for our own embeddings (for unit vectors the two orders agree). Not thread-safe: one per process.
    """

    def __init__(self, files: TeacherFiles | None = None) -> None:
        import dlib  # the distill extra; imported here so the module's helpers load without it

        self.files = files or TeacherFiles.installed()
        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(self.files.predictor))
        self._descriptor = dlib.face_recognition_model_v1(str(self.files.descriptor))
        self._hog = None  # dlib's HOG detector, built on first use (only to measure the box map's choice)

    def chip(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        """dlib's aligned 150x150x3 uint8 chip of the face in `box` (an MTCNN box in rgb's pixels)."""
        return self._chip_at(rgb, dlib_box(box))

    def _chip_at(self, rgb: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
        shape = self._predictor(rgb, self._dlib.rectangle(*rect))
        return self._dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)

    def hog_rect(self, rgb: np.ndarray, box: np.ndarray) -> tuple[int, int, int, int]:
        """The box of dlib's HOG frontal detector (image upsampled once) that overlaps the MTCNN `box`'s mapped box
        most, at IoU >= HOG_MIN_IOU; else that mapped box. As l, t, r, b integers in rgb's pixels."""
        if self._hog is None:
            self._hog = self._dlib.get_frontal_face_detector()
        mapped = dlib_box(box)
        found = [(r.left(), r.top(), r.right(), r.bottom()) for r in self._hog(rgb, 1)]
        best = max(found, key=lambda rect: _iou(rect, mapped), default=None)
        return best if best is not None and _iou(best, mapped) >= HOG_MIN_IOU else mapped

    def _describe(self, chips: list[np.ndarray]) -> np.ndarray:
        vectors = np.array(self._descriptor.compute_face_descriptor(chips), dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def embed(self, images: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB images (e.g. loose crops) with (N, 4) MTCNN boxes -> (N, 128) unit float32."""
        if len(images) == 0:
            return np.zeros((0, TEACHER_DIM), np.float32)
        return self._describe([self.chip(np.ascontiguousarray(image), box) for image, box in zip(images, boxes, strict=True)])

    def embed_in_rects(self, rgb: np.ndarray, rects: list[tuple[int, int, int, int]]) -> np.ndarray:
        """The faces of one (H, W, 3) uint8 RGB image in boxes already in dlib's convention -> (N, 128) unit."""
        return self._describe([self._chip_at(np.ascontiguousarray(rgb), rect) for rect in rects])


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    width, height = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    inter = max(width, 0) * max(height, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
