"""Safe image decoding: bytes or file -> HxWx3 uint8 RGB, with size limits and EXIF orientation."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from service.config import Settings
from service.errors import ErrorCode, FaceverError

# Pillow format names we decode. MPO is how Pillow names the JPEGs many cameras and phones write
# (a JPEG with extra preview frames); we take the primary (first) frame, as for animated WebP.
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP"})

# Transparent pixels are composited on white, the way viewers and browsers show them, so the
# service sees what the user saw (dropping alpha would expose arbitrary hidden RGB values).
_BACKGROUND = (255, 255, 255)
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # 16-bit grey PNGs open as one of these


@dataclass(frozen=True)
class ImageLimits:
    """Input limits: bytes of the encoded file, and pixels (width x height) of the decoded image."""

    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageLimits:
        return cls(max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)


def decode_image(data: bytes, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """Bytes -> HxWx3 uint8 RGB (C-contiguous), EXIF orientation applied. Raises FaceverError."""
    if len(data) > limits.max_bytes:
        raise FaceverError(
            ErrorCode.image_too_large,
            f"image is {len(data)} bytes, more than the limit of {limits.max_bytes}",
            size=len(data),
            limit=limits.max_bytes,
        )
    if not data:
        raise FaceverError(ErrorCode.invalid_image, "image is empty (0 bytes)")
    if data[4:8] == b"ftyp":  # ISO-BMFF (HEIC/HEIF, MP4...): Pillow cannot name it, we still can
        raise FaceverError(
            ErrorCode.unsupported_format, _UNSUPPORTED.format("HEIF/ISO-BMFF"), format="HEIF"
        )
    try:
        # Image.open only parses the header; pixels are decoded by load() below.
        img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow's own global guard (left untouched) fires on open for gigantic headers; the
        # warning is caught too in case a caller turned warnings into errors.
        raise FaceverError(
            ErrorCode.image_too_large,
            f"image has too many pixels: {e}",
            reason="decompression_bomb",
        ) from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise FaceverError(ErrorCode.invalid_image, "data is not a readable image") from e
    with img:
        if img.format not in ACCEPTED_FORMATS:
            raise FaceverError(
                ErrorCode.unsupported_format, _UNSUPPORTED.format(img.format), format=img.format
            )
        # Our own pixel limit, from the header, before any pixel is decoded (thread-safe, unlike
        # setting the global Image.MAX_IMAGE_PIXELS).
        width, height = img.size
        if width * height > limits.max_pixels:
            raise FaceverError(
                ErrorCode.image_too_large,
                f"image is {width}x{height} = {width * height} pixels, "
                f"more than the limit of {limits.max_pixels}",
                size=[width, height],
                pixels=width * height,
                limit=limits.max_pixels,
            )
        fmt = img.format
        try:
            # With ImageFile.LOAD_TRUNCATED_IMAGES False (Pillow's default, which we rely on and
            # test), a truncated JPEG/PNG/WebP raises here instead of being half decoded.
            img.load()
        except Exception as e:  # any decoder failure on hostile input is the input's fault
            raise FaceverError(
                ErrorCode.invalid_image, f"{fmt} image is truncated or corrupt: {e}", format=fmt
            ) from e
        # A broken EXIF block does not spoil the pixels: then keep them as stored.
        with contextlib.suppress(Exception):
            img = ImageOps.exif_transpose(img)
        try:
            return _to_rgb(img)
        except (ValueError, OSError) as e:  # a pixel mode Pillow cannot convert to RGB
            raise FaceverError(
                ErrorCode.invalid_image, f"cannot convert {img.mode} image to RGB", format=fmt
            ) from e


def read_image(path: str | Path, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """Read a file and decode it with decode_image (same checks)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(limits.max_bytes + 1)  # never read a huge file whole just to refuse it
    except OSError as e:
        raise FaceverError(
            ErrorCode.invalid_image, f"cannot read image file {path}: {e}", path=str(path)
        ) from e
    if len(data) > limits.max_bytes:
        size = path.stat().st_size
        raise FaceverError(
            ErrorCode.image_too_large,
            f"image file {path} is {size} bytes, more than the limit of {limits.max_bytes}",
            size=size,
            limit=limits.max_bytes,
            path=str(path),
        )
    return decode_image(data, limits)


_UNSUPPORTED = "image format {} is not supported; send JPEG, PNG, WebP or BMP"


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Any decoded mode -> HxWx3 uint8 RGB, C-contiguous."""
    if img.mode in _WIDE_MODES:
        # Pillow's 16-bit -> 8-bit conversion clips at 255 instead of scaling; scale ourselves.
        wide = np.asarray(img).astype(np.float64)
        grey = np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_BACKGROUND, 255))
        img = Image.alpha_composite(background, rgba)
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb)
