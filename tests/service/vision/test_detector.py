"""MTCNN on onnxruntime: parity with facenet-pytorch on real LFW images, edge cases, export parity."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

facenet_pytorch = pytest.importorskip("facenet_pytorch")

import cv2
import torch

from service.config import Settings
from service.errors import ErrorCode, FaceverError
from service.vision import mtcnn_ops as ops
from service.vision.detector import DetectedFace, MTCNNDetector
from tests.conftest import lfw_image

MODEL_DIR = Settings().detector_dir
N_IMAGES = 60
# Beyond the first N_IMAGES: images whose final O-Net scores tie exactly, where the NMS tie-break
# (not the nets) decides which box is kept.
TIE_IMAGES = ("Ben_Betts", "Jennifer_Reilly")
# Parity of boxes, landmarks and scores is checked on faces this far (a fraction of the box side) from the border.
BORDER_MARGIN = 0.1
# facenet-pytorch's defaults, used on both sides.
MIN_FACE, THRESHOLDS, FACTOR = 20, (0.6, 0.7, 0.7), 0.709


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


@pytest.fixture(scope="module")
def detector() -> MTCNNDetector:
    return MTCNNDetector(MODEL_DIR, min_face_size=MIN_FACE, thresholds=THRESHOLDS, factor=FACTOR)


@dataclass
class Pair:
    image: str
    shape: tuple[int, ...]  # H, W, 3
    ref_boxes: np.ndarray  # (N, 4)
    ref_scores: np.ndarray  # (N,)
    ref_points: np.ndarray  # (N, 5, 2)
    ours: list[DetectedFace]


@pytest.fixture(scope="module")
def pairs(lfw_dir: Path, detector: MTCNNDetector) -> list[Pair]:
    """First image of the first N_IMAGES identities (sorted) and TIE_IMAGES, through both detectors.

    Among them are several with two to four faces (e.g. Ahmet_Demir_0001, Abdel_Nasser_Assidi_0001).
    """
    reference = facenet_pytorch.MTCNN(
        min_face_size=MIN_FACE,
        thresholds=list(THRESHOLDS),
        factor=FACTOR,
        keep_all=True,
        select_largest=False,
    )
    names = sorted(p.name for p in lfw_dir.iterdir() if p.is_dir())[:N_IMAGES] + list(TIE_IMAGES)
    paths = [min((lfw_dir / name).glob("*.jpg")) for name in names]
    images = [read_rgb(path) for path in paths]
    # All torch runs first, then all ours: interleaving them makes each runtime's idle worker
    # threads compete with the other's, which multiplies the wall time on a small machine.
    # One torch thread: its many tiny ops gain little from two, and two busy-wait badly whenever
    # the machine is shared (several times the wall time under load).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            refs = [reference.detect(rgb, landmarks=True) for rgb in images]
    finally:
        torch.set_num_threads(threads)
    out = []
    for path, rgb, (boxes, scores, points) in zip(paths, images, refs, strict=True):
        if boxes is None:  # facenet-pytorch's "no face"
            boxes, scores, points = np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        # With numpy 2 these can come back as object arrays.
        out.append(
            Pair(
                path.name,
                rgb.shape,
                np.asarray(boxes).astype(np.float32).reshape(-1, 4),
                np.asarray(scores).astype(np.float32).reshape(-1),
                np.asarray(points).astype(np.float32).reshape(-1, 5, 2),
                detector.detect(rgb),
            )
        )
    return out


def matched(pair: Pair) -> list[tuple[int, DetectedFace]]:
    """Each reference face with our face of highest IoU; fails if two share one of ours."""
    result = []
    for k, box in enumerate(pair.ref_boxes):
        best = max(pair.ours, key=lambda f: iou(box, f.box))
        result.append((k, best))
    assert len({id(f) for _, f in result}) == len(result), (
        f"{pair.image}: two reference faces matched one face"
    )
    return result


def test_parity_face_counts(pairs: list[Pair]) -> None:
    assert len(pairs) >= 50
    wrong = [(p.image, len(p.ref_boxes), len(p.ours)) for p in pairs if len(p.ref_boxes) != len(p.ours)]
    assert not wrong, f"(image, facenet-pytorch faces, ours): {wrong}"
    assert sum(len(p.ours) > 1 for p in pairs) >= 3, "the sample should include several multi-face images"


def inner(box: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether a face's box, squared as the nets see it and grown by BORDER_MARGIN per side, is inside the image.

    Only such faces are held to parity: where a crop runs past the border, facenet-pytorch stretches the
    clipped region to the whole crop while we zero-pad it (as the original MTCNN does), on purpose
    (test_border_faces.py). The margin covers the candidate boxes of the earlier stages, which wander
    around the final one.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    half = max(x2 - x1, y2 - y1) * (0.5 + BORDER_MARGIN)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return cx - half >= 0 and cy - half >= 0 and cx + half <= shape[1] and cy + half <= shape[0]


def test_parity_boxes_landmarks_scores(pairs: list[Pair]) -> None:
    worst_iou, worst_px, worst_score = 1.0, 0.0, 0.0
    compared = total = 0
    for pair in pairs:
        if len(pair.ref_boxes) != len(pair.ours):
            continue  # reported by test_parity_face_counts
        for k, face in matched(pair):
            total += 1
            if not inner(pair.ref_boxes[k], pair.shape):
                continue
            compared += 1
            worst_iou = min(worst_iou, iou(pair.ref_boxes[k], face.box))
            worst_px = max(worst_px, float(np.abs(pair.ref_points[k] - face.landmarks).max()))
            worst_score = max(worst_score, abs(float(pair.ref_scores[k]) - face.score))
    assert compared >= 0.9 * total, f"only {compared} of {total} faces are away from the border"
    assert worst_iou >= 0.95
    assert worst_px <= 1.5
    assert worst_score <= 1e-3


def test_faces_are_typed_and_sorted_by_score(pairs: list[Pair]) -> None:
    for pair in pairs:
        scores = [f.score for f in pair.ours]
        assert scores == sorted(scores, reverse=True)
        for face in pair.ours:
            assert face.box.shape == (4,) and face.box.dtype == np.float32
            assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float32
            assert isinstance(face.score, float) and 0.7 < face.score <= 1.0
            assert face.area == pytest.approx((face.box[2] - face.box[0]) * (face.box[3] - face.box[1]))


@pytest.mark.parametrize(
    "image",
    [
        np.full((250, 250, 3), 128, np.uint8),  # uniform grey
        np.tile(np.linspace(0, 255, 300, dtype=np.uint8)[None, :, None], (200, 1, 3)),  # smooth gradient
        np.zeros((10, 10, 3), np.uint8),  # smaller than one P-Net window at min_face_size
    ],
    ids=["grey", "gradient", "tiny"],
)
def test_no_face_gives_empty_list(detector: MTCNNDetector, image: np.ndarray) -> None:
    assert detector.detect(image) == []


def test_large_image_is_downscaled_and_mapped_back(
    lfw_dir: Path, detector: MTCNNDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    rgb = read_rgb(lfw_image("Aaron_Peirsol", 1))
    small = detector.detect(rgb)
    assert len(small) == 1
    seen: list[tuple[int, ...]] = []
    cascade = detector._cascade
    monkeypatch.setattr(detector, "_cascade", lambda img, min_face: (seen.append(img.shape), cascade(img, min_face))[1])
    big = detector.detect(cv2.resize(rgb, (2500, 2500), interpolation=cv2.INTER_LINEAR))
    # detection ran on a smaller copy: towards max_side (1024), but a MIN_FACE face keeps 12 px
    assert seen == [(1500, 1500, 3)]
    assert len(big) == 1
    assert iou(big[0].box / 10, small[0].box) >= 0.9
    assert np.abs(big[0].landmarks / 10 - small[0].landmarks).max() <= 4.0


def test_area_sample_is_torch_area_resize_of_each_region(lfw_dir: Path) -> None:
    """Whole image (a pyramid level) and boxes (R-/O-Net crops) against torch's "area" resize."""
    rgb = read_rgb(lfw_image("Aaron_Peirsol", 1))
    integral = ops.integral_image(rgb)
    rows = (np.array([0, 30, 100, 0]), np.array([250, 97, 250, 1]))
    cols = (np.array([0, 61, 5, 249]), np.array([250, 140, 38, 250]))
    for out_h, out_w in ((151, 151), (24, 24), (48, 48), (7, 13)):
        ours = ops.area_sample(integral, rows, cols, out_h, out_w)
        assert ours.shape == (4, out_h, out_w, 3) and ours.dtype == np.float32
        for k in range(4):
            region = torch.from_numpy(rgb[rows[0][k]:rows[1][k], cols[0][k]:cols[1][k]].astype(np.float64))
            ref = torch.nn.functional.interpolate(region.permute(2, 0, 1)[None], size=(out_h, out_w), mode="area")
            np.testing.assert_allclose(ours[k], ref[0].permute(1, 2, 0).numpy(), rtol=0, atol=1e-4)


def test_missing_model_dir_is_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(FaceverError) as info:
        MTCNNDetector(tmp_path / "nowhere")
    assert info.value.code is ErrorCode.model_unavailable
    assert "pnet.onnx" in info.value.message and "training.export.mtcnn" in info.value.message


def test_from_settings_and_bad_input(tmp_path: Path) -> None:
    detector = MTCNNDetector.from_settings(Settings(models_dir=MODEL_DIR.parent, min_face_size=40, threads=1))
    assert detector.min_face_size == 40
    with pytest.raises(FaceverError) as info:
        detector.detect(np.zeros((50, 50), np.uint8))
    assert info.value.code is ErrorCode.invalid_image


def test_committed_onnx_matches_torch_nets() -> None:
    pytest.importorskip("onnxruntime")
    from training.export.mtcnn import SPECS, check_parity, load_net

    for spec in SPECS:
        assert check_parity(load_net(spec.name), MODEL_DIR / f"{spec.name}.onnx", spec) <= 1e-4
