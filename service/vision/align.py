"""The alignment contract: five landmarks -> a 112x96 RGB crop on the SphereFace/RegularFace template."""

from __future__ import annotations

import cv2
import numpy as np

CROP_HEIGHT = 112
CROP_WIDTH = 96

# (x, y) in the 96x112 crop: left eye, right eye, nose, left mouth corner, right mouth corner.
TEMPLATE = np.array(
    [
        [30.2946, 51.6963],
        [65.5318, 51.5014],
        [48.0252, 71.7366],
        [33.5493, 92.3655],
        [62.7299, 92.2041],
    ],
    dtype=np.float32,
)


def similarity_transform(landmarks: np.ndarray, template: np.ndarray = TEMPLATE) -> np.ndarray:
    """2x3 similarity (rotation, uniform scale, translation) mapping `landmarks` onto `template`.

    Fitted by least squares over all five points: with a reprojection threshold no point can
    exceed, RANSAC keeps every point as an inlier and OpenCV's Levenberg-Marquardt refinement
    converges to the plain least-squares solution.
    """
    src = np.asarray(landmarks, dtype=np.float32).reshape(-1, 2)
    matrix, _ = cv2.estimateAffinePartial2D(
        src, template, method=cv2.RANSAC, ransacReprojThreshold=1e9, refineIters=50
    )
    if matrix is None:  # degenerate input, e.g. all landmarks on one point
        raise ValueError("landmarks are degenerate; cannot fit a similarity transform")
    return matrix


def align_face(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Warp an HxWx3 image so its five landmarks land on the template: a 112x96x3 uint8 crop."""
    matrix = similarity_transform(landmarks)
    return cv2.warpAffine(
        rgb,
        matrix,
        (CROP_WIDTH, CROP_HEIGHT),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def centred_landmarks(height: int, width: int, fill: float = 0.5) -> np.ndarray:
    """Template landmarks placed on the image centre, the 112x96 box covering `fill` of the image.

    The centre-crop fallback for an evaluation image in which no face was found (RegularFace §5.1).
    fill=0.5 suits roughly centred photos such as LFW, where the face spans about half the frame.
    """
    scale = fill * min(height / CROP_HEIGHT, width / CROP_WIDTH)
    offset = np.array([(width - CROP_WIDTH * scale) / 2, (height - CROP_HEIGHT * scale) / 2])
    return (TEMPLATE * scale + offset).astype(np.float32)
