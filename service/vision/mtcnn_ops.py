"""Array helpers for the MTCNN cascade: area resampling, NMS, box squaring and crop batches.

Everything is numpy on float32 boxes, mirroring the arithmetic of facenet-pytorch's detector (whose
pretrained nets we run), so that our detections agree with it to within float rounding.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

NmsMode = Literal["iou", "min"]
_NMS_BLOCK = 256  # boxes whose overlaps `nms` computes in one pass


def integral_image(img: np.ndarray) -> np.ndarray:
    """(H+1) x (W+1) x C float64 running sums of an HxWxC image, so any box sum costs four lookups."""
    img = np.ascontiguousarray(img)
    if img.dtype == np.uint8:
        return cv2.integral(img, sdepth=cv2.CV_64F).reshape(img.shape[0] + 1, img.shape[1] + 1, -1)
    csum = np.zeros((img.shape[0] + 1, img.shape[1] + 1, img.shape[2]), np.float64)
    csum[1:, 1:] = img.cumsum(axis=0, dtype=np.float64).cumsum(axis=1)
    return csum


def _area_bins(lo: np.ndarray, hi: np.ndarray, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Per region k and output cell i, the input range [start, end) it averages: (K, n_out) each."""
    n_in = (hi - lo)[:, None]
    i = np.arange(n_out, dtype=np.int64)[None, :]
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)  # ceil division
    return lo[:, None] + start, lo[:, None] + end


def area_sample(
    integral: np.ndarray,
    rows: tuple[np.ndarray, np.ndarray],
    cols: tuple[np.ndarray, np.ndarray],
    out_h: int,
    out_w: int,
) -> np.ndarray:
    """Resize K regions [y0:y1, x0:x1] of the image behind `integral` as torch's "area" mode does.

    Returns K x out_h x out_w x C float32. A region may run past the image: the part outside reads
    as zeros (the image zero-padded), so a crop's content does not depend on where the image ends.
    torch's F.interpolate(mode="area") is adaptive average
    pooling: output cell i averages input rows floor(i*H/h) .. ceil((i+1)*H/h) - 1 with equal
    weights. cv2's INTER_AREA weights partial pixels instead, which moves P-Net scores enough to
    change which candidates survive; matching the pooling exactly keeps our boxes on the reference
    ones. With the integral image every region and cell is four lookups, all regions at once; the
    sums are whole numbers, exact in float64, so the lookup order does not change a bit.
    """
    r0, r1 = _area_bins(np.asarray(rows[0]), np.asarray(rows[1]), out_h)
    c0, c1 = _area_bins(np.asarray(cols[0]), np.asarray(cols[1]), out_w)
    area = ((r1 - r0)[:, :, None] * (c1 - c0)[:, None, :])[..., None]
    # Zero padding: a sum over a cell is the sum over its part inside the image, i.e. the lookups
    # clipped to the integral's range, while the cell's area (the divisor) stays whole.
    n_rows, stride = integral.shape[0], integral.shape[1]
    r0, r1 = np.clip(r0, 0, n_rows - 1), np.clip(r1, 0, n_rows - 1)
    c0, c1 = np.clip(c0, 0, stride - 1), np.clip(c1, 0, stride - 1)
    # np.take on the flattened (pixel, channel) table is several times faster than indexing the
    # 3-D integral with broadcast index arrays; in-place updates avoid three temporaries.
    flat = integral.reshape(-1, integral.shape[2])
    top, bottom = (r0 * stride)[:, :, None], (r1 * stride)[:, :, None]
    left, right = c0[:, None, :], c1[:, None, :]
    sums = np.take(flat, bottom + right, axis=0)
    sums -= np.take(flat, top + right, axis=0)
    sums -= np.take(flat, bottom + left, axis=0)
    sums += np.take(flat, top + left, axis=0)
    sums /= area
    return sums.astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: NmsMode = "iou") -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept boxes, best score first.

    mode "iou": overlap = intersection / union with continuous areas (as torchvision's nms).
    mode "min": overlap = intersection / smaller area, counting pixels inclusively (+1), as the
    original MTCNN's last stage does, which removes a small box lying inside a bigger one.
    A box is suppressed when its overlap with a kept box is above the threshold.
    """
    # Best first. Scores tie often (the nets saturate near 1 in float32), and which box wins a tie
    # moves the result by pixels, so we sort as the reference does to break ties the same way:
    # torchvision's sort (stable, descending) for IoU; numpy's default argsort read from the end for
    # "min" (its tie order is numpy's own, but the same for the same scores).
    order = np.argsort(-scores, kind="stable") if mode == "iou" else np.argsort(scores)[::-1]
    boxes = boxes[order, :4].astype(np.float32)
    # Overlaps are computed a block of boxes at a time (one numpy pass, not one per kept box);
    # the block bounds memory on crowded images. Same greedy order, same float32 arithmetic.
    keep: list[int] = []
    for start in range(0, len(boxes), _NMS_BLOCK):
        block = boxes[start : start + _NMS_BLOCK]
        alive = ~(_overlap(boxes[keep], block, mode) > threshold).any(axis=0)
        within = _overlap(block, block, mode) > threshold
        for i in range(len(block)):
            if alive[i]:
                keep.append(start + i)
                alive[i + 1 :] &= ~within[i, i + 1 :]
    return order[keep].astype(np.int64)


def _overlap(a: np.ndarray, b: np.ndarray, mode: NmsMode) -> np.ndarray:
    """(len(a), len(b)) overlaps of float32 boxes as `nms` defines them."""
    inc = np.float32(1.0 if mode == "min" else 0.0)
    iw = np.maximum(0.0, np.minimum(a[:, None, 2], b[:, 2]) - np.maximum(a[:, None, 0], b[:, 0]) + inc)
    ih = np.maximum(0.0, np.minimum(a[:, None, 3], b[:, 3]) - np.maximum(a[:, None, 1], b[:, 1]) + inc)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0] + inc) * (a[:, 3] - a[:, 1] + inc)
    area_b = (b[:, 2] - b[:, 0] + inc) * (b[:, 3] - b[:, 1] + inc)
    denom = np.minimum(area_a[:, None], area_b) if mode == "min" else area_a[:, None] + area_b - inter
    return inter / np.maximum(denom, np.finfo(np.float32).tiny)


def regress(boxes: np.ndarray, reg: np.ndarray, *, inclusive: bool) -> np.ndarray:
    """Apply the nets' box offsets (fractions of the box side).

    P-Net's candidates use the plain side (x2 - x1); R-Net/O-Net refinements use the pixel-inclusive
    side (x2 - x1 + 1), as in the reference implementation.
    """
    inc = np.float32(1.0 if inclusive else 0.0)
    w = boxes[:, 2] - boxes[:, 0] + inc
    h = boxes[:, 3] - boxes[:, 1] + inc
    size = np.stack([w, h, w, h], axis=1)
    return (boxes[:, :4] + reg[:, :4].astype(np.float32) * size).astype(np.float32)


def square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square of its longer side around the same centre (the nets expect squares)."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    x1 = boxes[:, 0] + w * np.float32(0.5) - side * np.float32(0.5)
    y1 = boxes[:, 1] + h * np.float32(0.5) - side * np.float32(0.5)
    return np.stack([x1, y1, x1 + side, y1 + side], axis=1).astype(np.float32)


def crop_batch(integral: np.ndarray, boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop each box, zero-padded where it runs past the image, area-resize to size x size.

    Returns (N x 3 x size x size normalised crops, kept mask over `boxes`). `integral` is the image's
    `integral_image`. Boxes are truncated to integers and read as 1-based inclusive pixel ranges, as
    in the reference. The part of a box outside the image is zeros, as the original MTCNN pads it,
    so a face cut by the image border is seen at the same place and scale as if the image went on
    (facenet-pytorch instead stretches the clipped part to the whole crop, which moves the
    landmarks of such faces by tens of pixels). A box with no pixel inside the image is dropped.
    """
    h, w = integral.shape[0] - 1, integral.shape[1] - 1
    ib = np.trunc(boxes[:, :4]).astype(np.int64)
    x0, y0, x1, y1 = ib[:, 0] - 1, ib[:, 1] - 1, ib[:, 2], ib[:, 3]
    kept = (np.minimum(x1, w) > np.maximum(x0, 0)) & (np.minimum(y1, h) > np.maximum(y0, 0))  # pixels inside
    crops = area_sample(integral, (y0[kept], y1[kept]), (x0[kept], x1[kept]), size, size)
    return normalise(crops).transpose(0, 3, 1, 2), kept


def normalise(pixels: np.ndarray) -> np.ndarray:
    """The MTCNN nets' input scaling: (x - 127.5) / 128."""
    return ((pixels - np.float32(127.5)) * np.float32(0.0078125)).astype(np.float32)


def pyramid_scales(h: int, w: int, min_face_size: float, factor: float) -> list[float]:
    """Scales at which a 12-px P-Net window covers faces from min_face_size up to the image side."""
    scale = 12.0 / min_face_size
    side = min(h, w) * scale
    scales = []
    while side >= 12:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales
