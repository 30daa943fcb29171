"""MTCNN face detection (Zhang et al., 2016) on onnxruntime: boxes, scores and five landmarks.

The three nets are facenet-pytorch's pretrained P-/R-/O-Net exported to ONNX by
`python -m training.export.mtcnn`. The cascade follows facenet-pytorch's `detect_face` step for step
(same pyramid, thresholds, regressions, NMS kinds and area resampling), so detections match it to
within float rounding; the parity test in tests/service/vision/test_detector.py holds us to that.
One deliberate difference: an R-/O-Net crop that runs past the image border is zero-padded, as in
the original MTCNN, where facenet-pytorch stretches the clipped part (see `mtcnn_ops.crop_batch`).
This module imports neither torch nor anything from `training`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from service.config import Settings
from service.errors import ErrorCode, FaceverError
from service.vision import mtcnn_ops as ops
from service.vision.onnx_session import open_session

NET_NAMES = ("pnet", "rnet", "onet")
# Raised whenever the cascade's output changes for the same nets and settings (2: crops past the image edge
# are zero-padded; large images are shrunk at most min_face/12); caches of aligned crops key on it.
CASCADE_VERSION = 2
EXPORT_COMMAND = "python -m training.export.mtcnn --out {dir}"

# P-Net is a 12x12 sliding window with an overall stride of 2 on each pyramid level.
_PNET_STRIDE = 2
_PNET_CELL = 12
# NMS overlaps: within one pyramid level, across levels, after R-Net, after O-Net ("min" overlap).
_NMS_SCALE, _NMS_PYRAMID, _NMS_RNET, _NMS_ONET = 0.5, 0.7, 0.7, 0.7
_BATCH = 512  # crops per R-/O-Net run, to bound memory on crowded images


@dataclass(frozen=True, eq=False)
class DetectedFace:
    """One face in original-image pixels.

    landmarks rows are (x, y) of: left eye, right eye, nose, left mouth corner, right mouth corner,
    where left/right are as seen in the image (facenet-pytorch's order).
    """

    box: np.ndarray  # (4,) float32 x1, y1, x2, y2
    score: float  # O-Net face probability
    landmarks: np.ndarray  # (5, 2) float32

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = (float(v) for v in self.box)
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)


class MTCNNDetector:
    """The three-stage MTCNN cascade; thread-safe to call `detect` concurrently (ORT sessions are)."""

    def __init__(
        self,
        model_dir: Path,
        *,
        min_face_size: int = 20,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        max_side: int = 1024,
        threads: int = 0,
        device: str = "cpu",
    ) -> None:
        if min_face_size < 1 or not 0.0 < factor < 1.0 or len(thresholds) != 3 or max_side < 12:
            raise ValueError("need min_face_size >= 1, 0 < factor < 1, three thresholds and max_side >= 12")
        self.min_face_size = int(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.factor = float(factor)
        self.max_side = int(max_side)
        model_dir = Path(model_dir)
        # Idle ORT workers otherwise busy-wait between the many small runs of one detection,
        # taking CPU from the embedder, the web server or torch (training's data preparation);
        # measured on 2 cores: same or lower latency without spinning, half the CPU time.
        hint = f"; regenerate it with `{EXPORT_COMMAND.format(dir=model_dir)}`"
        self._pnet, self._rnet, self._onet = (
            open_session(model_dir / f"{name}.onnx", device=device, threads=threads, spin=False, missing_hint=hint)
            for name in NET_NAMES
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> MTCNNDetector:
        return cls(
            settings.detector_dir,
            min_face_size=settings.min_face_size,
            thresholds=settings.detector_thresholds,
            max_side=settings.detector_max_side,
            threads=settings.threads,
            device=settings.device,
        )

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        """HxWx3 uint8 RGB -> faces sorted by score descending (may be empty)."""
        if not (
            isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8
        ):
            raise FaceverError(ErrorCode.invalid_image, "detector needs an HxWx3 uint8 RGB array")
        rgb = np.ascontiguousarray(rgb)  # e.g. a BGR->RGB [..., ::-1] view; cv2 needs plain strides
        h, w = rgb.shape[:2]
        img, sx, sy, min_face = rgb, 1.0, 1.0, float(self.min_face_size)
        s = self.detection_scale(h, w)
        if s < 1.0:
            # Detect on a smaller copy (the integral image and crops cost memory and time per pixel),
            # then scale the results back to the caller's pixels.
            nw, nh = max(1, round(w * s)), max(1, round(h * s))
            img = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
            sx, sy = w / nw, h / nh
            min_face /= max(sx, sy)  # the smallest face, in the copy's pixels (>= about 12)
        boxes, scores, points = self._cascade(img, min_face)
        scale = np.array([sx, sy], dtype=np.float32)
        boxes = boxes * np.tile(scale, 2)
        points = points * scale
        order = np.argsort(-scores, kind="stable")
        return [
            DetectedFace(
                box=boxes[i].astype(np.float32),
                score=float(scores[i]),
                landmarks=points[i].astype(np.float32),
            )
            for i in order
        ]

    def detection_scale(self, h: int, w: int) -> float:
        """Factor (<= 1) by which an h x w image is shrunk before the cascade.

        The longer side goes towards max_side, but never so far that a min_face_size face falls below
        the 12 px P-Net cell: a face of the minimum size in the caller's image is always searched for.
        """
        return min(1.0, max(self.max_side / max(h, w), _PNET_CELL / self.min_face_size))

    # -- the three stages --------------------------------------------------------------------

    def _cascade(self, img: np.ndarray, min_face: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The cascade on `img`, looking for faces of at least `min_face` of its pixels."""
        # One integral image serves every pyramid level and every crop (all "area" resampling).
        integral = ops.integral_image(img)
        boxes = self._propose(integral, min_face)
        if len(boxes):
            boxes = self._refine(integral, boxes)
        if len(boxes):
            return self._output(integral, boxes)
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)

    def _propose(self, integral: np.ndarray, min_face: float) -> np.ndarray:
        """P-Net over the pyramid (faces from min_face px up) -> squared candidate boxes (N, 4)."""
        h, w = integral.shape[0] - 1, integral.shape[1] - 1
        whole = (np.zeros(1, np.int64), np.array([h])), (np.zeros(1, np.int64), np.array([w]))
        found: list[np.ndarray] = []
        for scale in ops.pyramid_scales(h, w, min_face, self.factor):
            level = ops.area_sample(integral, *whole, int(h * scale + 1), int(w * scale + 1))
            x = ops.normalise(level).transpose(0, 3, 1, 2)
            reg, prob = self._pnet.run(["reg", "prob"], {"input": np.ascontiguousarray(x)})
            ys, xs = np.nonzero(prob[0, 1] >= self.thresholds[0])
            if ys.size == 0:
                continue
            # Map each firing cell back to its 12x12 window in this image (1-based, as trained).
            cells = np.stack([xs, ys], axis=1).astype(np.float32)
            s = np.float32(scale)
            q1 = np.floor((_PNET_STRIDE * cells + 1) / s)
            q2 = np.floor((_PNET_STRIDE * cells + _PNET_CELL) / s)
            cand = np.concatenate([q1, q2, prob[0, 1, ys, xs][:, None], reg[0][:, ys, xs].T], axis=1)
            cand = cand.astype(np.float32)
            found.append(cand[ops.nms(cand[:, :4], cand[:, 4], _NMS_SCALE)])
        if not found:
            return np.zeros((0, 4), np.float32)
        cand = np.concatenate(found)
        cand = cand[ops.nms(cand[:, :4], cand[:, 4], _NMS_PYRAMID)]
        return ops.square(ops.regress(cand[:, :4], cand[:, 5:9], inclusive=False))

    def _refine(self, integral: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """R-Net on 24x24 crops -> fewer, better squared boxes (N, 4)."""
        crops, kept = ops.crop_batch(integral, boxes, 24)
        boxes = boxes[kept]
        if not len(boxes):
            return boxes
        reg, prob = _run_batched(self._rnet, ["reg", "prob"], crops)
        score = prob[:, 1]
        ok = score > self.thresholds[1]
        boxes, score, reg = boxes[ok], score[ok], reg[ok]
        keep = ops.nms(boxes, score, _NMS_RNET)
        return ops.square(ops.regress(boxes[keep], reg[keep], inclusive=True))

    def _output(self, integral: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """O-Net on 48x48 crops -> final boxes (N, 4), scores (N,), landmarks (N, 5, 2)."""
        crops, kept = ops.crop_batch(integral, boxes, 48)
        boxes = boxes[kept]
        if not len(boxes):
            return boxes, np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        reg, marks, prob = _run_batched(self._onet, ["reg", "landmarks", "prob"], crops)
        score = prob[:, 1]
        ok = score > self.thresholds[2]
        boxes, score, reg, marks = boxes[ok], score[ok], reg[ok], marks[ok]
        # Landmarks are fractions of the (pixel-inclusive) box, measured before its final regression.
        size = np.stack([boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1], axis=1)
        points = marks.reshape(-1, 2, 5).transpose(0, 2, 1) * size[:, None, :] + boxes[:, None, :2] - 1
        boxes = ops.regress(boxes, reg, inclusive=True)
        keep = ops.nms(boxes, score, _NMS_ONET, mode="min")
        return boxes[keep], score[keep].astype(np.float32), points[keep].astype(np.float32)


def _run_batched(session: ort.InferenceSession, outputs: list[str], x: np.ndarray) -> list[np.ndarray]:
    parts = [session.run(outputs, {"input": x[i : i + _BATCH]}) for i in range(0, len(x), _BATCH)]
    return [np.concatenate([p[k] for p in parts]) for k in range(len(outputs))]
