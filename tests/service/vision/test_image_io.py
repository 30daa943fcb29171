"""Safe decoding on real LFW photos and a malformed corpus built from them in the test."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from service.config import Settings
from service.errors import ErrorCode, FaceverError
from service.vision.image_io import ImageLimits, decode_image, read_image
from tests.conftest import lfw_image

PHOTO = lfw_image("Aaron_Peirsol", 1)  # 250x250 JPEG


@pytest.fixture(scope="module")
def photo_bytes(lfw_dir: Path) -> bytes:
    return PHOTO.read_bytes()


@pytest.fixture(scope="module")
def photo(photo_bytes: bytes) -> Image.Image:
    return Image.open(io.BytesIO(photo_bytes)).convert("RGB")


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def craft_png(
    width: int, height: int, bit_depth: int, colour_type: int, rows: Iterable[bytes]
) -> bytes:
    """A PNG written by hand, for what Pillow cannot write (16-bit RGB, huge bombs)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    z = zlib.compressobj(9)
    idat = b"".join(z.compress(b"\x00" + row) for row in rows) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@cache
def bomb(side: int) -> bytes:
    """side x side 1-bit all-black PNG: tens of KB on disk, hundreds of MP once decoded."""
    row = bytes((side + 7) // 8)
    return craft_png(side, side, 1, 0, (row for _ in range(side)))


def expect_error(code: ErrorCode, data: bytes, limits: ImageLimits | None = None) -> FaceverError:
    with pytest.raises(FaceverError) as info:
        decode_image(data, limits or ImageLimits())
    assert info.value.code is code, info.value
    assert info.value.message
    return info.value


def check_rgb(arr: np.ndarray, shape: tuple[int, int] = (250, 250)) -> None:
    assert arr.shape == (*shape, 3)
    assert arr.dtype == np.uint8
    assert arr.flags.c_contiguous


# ---------------------------------------------------------------- accepted formats


@pytest.mark.parametrize(
    ("fmt", "kw", "lossless"),
    [
        ("JPEG", {"quality": 95}, False),
        ("PNG", {}, True),
        ("WEBP", {"lossless": True}, True),
        ("WEBP", {"quality": 90}, False),
        ("BMP", {}, True),
    ],
)
def test_round_trip_of_real_photo(photo: Image.Image, fmt: str, kw: dict, lossless: bool) -> None:
    arr = decode_image(encode(photo, fmt, **kw))
    check_rgb(arr)
    diff = np.abs(arr.astype(int) - np.asarray(photo, dtype=int))
    assert diff.max() == 0 if lossless else diff.mean() < 4


def test_original_lfw_jpeg_and_read_image(photo_bytes: bytes, photo: Image.Image) -> None:
    for arr in (decode_image(photo_bytes), read_image(PHOTO), read_image(str(PHOTO))):
        check_rgb(arr)
        np.testing.assert_array_equal(arr, np.asarray(photo))


# ---------------------------------------------------------------- conversions to 8-bit RGB


def test_grey_and_one_bit(photo: Image.Image) -> None:
    grey = photo.convert("L")
    arr = decode_image(encode(grey, "PNG"))
    check_rgb(arr)
    for c in range(3):
        np.testing.assert_array_equal(arr[:, :, c], np.asarray(grey))
    mono = decode_image(encode(photo.convert("1"), "PNG"))
    check_rgb(mono)
    assert set(np.unique(mono)) == {0, 255}


def test_sixteen_bit_grey_png_is_scaled_not_clipped(photo: Image.Image) -> None:
    grey = np.asarray(photo.convert("L"))
    data = encode(Image.fromarray(grey.astype(np.uint16) * 257), "PNG")  # Pillow writes 16-bit
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    arr = decode_image(data)
    check_rgb(arr)
    np.testing.assert_array_equal(arr[:, :, 1], grey)  # 257*v -> v exactly, not clipped at 255


def test_sixteen_bit_rgb_png(photo: Image.Image) -> None:
    # Pillow cannot write 16-bit RGB, so the PNG is crafted; Pillow opens it as 8-bit RGB.
    rgb16 = np.asarray(photo).astype(">u2") * 257
    data = craft_png(250, 250, 16, 2, (row.tobytes() for row in rgb16))
    arr = decode_image(data)
    check_rgb(arr)
    np.testing.assert_array_equal(arr, np.asarray(photo))


def test_cmyk_jpeg(photo: Image.Image) -> None:
    data = encode(photo.convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    arr = decode_image(data)
    check_rgb(arr)
    assert np.abs(arr.astype(int) - np.asarray(photo, dtype=int)).mean() < 4


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white(photo: Image.Image, mode: str) -> None:
    base = photo.convert(mode[:-1])  # RGB or L
    alpha = np.full((250, 250), 255, np.uint8)
    alpha[:, :125] = 0  # left half fully transparent
    img = base.copy()
    img.putalpha(Image.fromarray(alpha))
    arr = decode_image(encode(img, "PNG"))
    check_rgb(arr)
    assert (arr[:, :125] == 255).all()
    np.testing.assert_array_equal(arr[:, 125:], np.asarray(base.convert("RGB"))[:, 125:])


def test_palette_png_with_and_without_transparency(photo: Image.Image) -> None:
    pal = photo.quantize(colors=64)
    expected = np.asarray(pal.convert("RGB"))
    np.testing.assert_array_equal(decode_image(encode(pal, "PNG")), expected)
    index = np.asarray(pal)[0, 0]  # make the top-left pixel's palette entry transparent
    arr = decode_image(encode(pal, "PNG", transparency=int(index)))
    check_rgb(arr)
    hidden = np.asarray(pal) == index
    assert (arr[hidden] == 255).all()
    np.testing.assert_array_equal(arr[~hidden], expected[~hidden])


# ---------------------------------------------------------------- EXIF orientation

# tag -> how the stored pixels are derived from the upright picture (inverse of exif_transpose)
STORED = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("orientation", sorted(STORED))
def test_exif_orientation_restores_upright(photo: Image.Image, fmt: str, orientation: int) -> None:
    upright = photo.crop((0, 0, 250, 180))  # not square, so a rotation shows in the shape
    stored = upright.transpose(STORED[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    arr = decode_image(encode(stored, fmt, exif=exif.tobytes(), quality=95))
    check_rgb(arr, (180, 250))
    diff = np.abs(arr.astype(int) - np.asarray(upright, dtype=int)).mean()
    assert diff < 3 if fmt == "JPEG" else diff == 0
    if orientation in (2, 3):  # same shape: make sure the pixels really moved
        assert np.abs(arr.astype(int) - np.asarray(stored, dtype=int)).mean() > 10


# ---------------------------------------------------------------- refused: not an image / corrupt


def _invalid_corpus(photo_bytes: bytes, photo: Image.Image) -> dict[str, bytes]:
    png = encode(photo, "PNG")
    webp = encode(photo, "WEBP")
    return {
        "empty": b"",
        "text": b"hello, this is a text file\n" * 20,
        "pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n",
        "random": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "jpeg_half": photo_bytes[: len(photo_bytes) // 2],
        "jpeg_no_eoi": photo_bytes[:-2],
        "jpeg_header_only": photo_bytes[:200],
        "png_half": png[: len(png) // 2],
        "png_signature_only": png[:8],
        "webp_half": webp[: len(webp) // 2],
        "bmp_half": (bmp := encode(photo, "BMP"))[: len(bmp) // 2],
    }


@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "text",
        "pdf",
        "random",
        "jpeg_half",
        "jpeg_no_eoi",
        "jpeg_header_only",
        "png_half",
        "png_signature_only",
        "webp_half",
        "bmp_half",
    ],
)
def test_invalid_images_are_refused(photo_bytes: bytes, photo: Image.Image, case: str) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # what truncation detection relies on
    expect_error(ErrorCode.invalid_image, _invalid_corpus(photo_bytes, photo)[case])


def test_every_truncation_of_a_real_jpeg_is_refused(photo_bytes: bytes) -> None:
    for cut in range(0, len(photo_bytes) - 1, 97):
        expect_error(ErrorCode.invalid_image, photo_bytes[:cut])


def test_read_image_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FaceverError) as info:
        read_image(tmp_path / "nope.jpg")
    assert info.value.code is ErrorCode.invalid_image


# ---------------------------------------------------------------- refused: unsupported formats


def _animated_gif(photo: Image.Image) -> bytes:
    frames = [photo, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


@pytest.mark.parametrize(
    ("make", "fmt"),
    [
        (_animated_gif, "GIF"),
        (lambda p: encode(p, "GIF"), "GIF"),
        (lambda p: encode(p, "TIFF"), "TIFF"),
        (lambda p: encode(p, "ICO"), "ICO"),
        (lambda p: b"\x00\x00\x00\x18ftypheic" + bytes(64), "HEIF"),
    ],
    ids=["animated_gif", "gif", "tiff", "ico", "heic"],
)
def test_unsupported_formats(photo: Image.Image, make, fmt: str) -> None:
    err = expect_error(ErrorCode.unsupported_format, make(photo))
    assert err.details["format"] == fmt


# ---------------------------------------------------------------- limits


def test_byte_limit(photo_bytes: bytes, tmp_path: Path) -> None:
    n = len(photo_bytes)
    check_rgb(decode_image(photo_bytes, ImageLimits(max_bytes=n)))
    err = expect_error(ErrorCode.image_too_large, photo_bytes, ImageLimits(max_bytes=n - 1))
    assert err.details == {"size": n, "limit": n - 1}
    expect_error(
        ErrorCode.image_too_large, b"not even an image", ImageLimits(max_bytes=5)
    )  # before decoding
    with pytest.raises(FaceverError) as info:
        read_image(PHOTO, ImageLimits(max_bytes=1000))
    assert info.value.code is ErrorCode.image_too_large and info.value.details["size"] == n


def test_pixel_limit(photo_bytes: bytes) -> None:
    check_rgb(decode_image(photo_bytes, ImageLimits(max_pixels=250 * 250)))
    err = expect_error(
        ErrorCode.image_too_large, photo_bytes, ImageLimits(max_pixels=250 * 250 - 1)
    )
    assert err.details["size"] == [250, 250] and err.details["limit"] == 250 * 250 - 1


@pytest.mark.parametrize(
    ("side", "max_pixels"),
    [
        (7_000, 40_000_000),  # 49 MP: over our limit, under Pillow's
        (10_000, 40_000_000),  # 100 MP: Pillow warns, we refuse on the header
        (20_000, 40_000_000),  # 400 MP: Pillow's own DecompressionBombError
        (20_000, 10**9),
    ],  # our limit raised, Pillow's guard still refuses, never crashes
)
@pytest.mark.parametrize("warnings_as_errors", [False, True])
def test_png_decompression_bombs(side: int, max_pixels: int, warnings_as_errors: bool) -> None:
    data = bomb(side)
    assert len(data) < 100_000
    pillow_global = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error" if warnings_as_errors else "ignore", Image.DecompressionBombWarning
        )
        expect_error(ErrorCode.image_too_large, data, ImageLimits(max_pixels=max_pixels))
    assert pillow_global == Image.MAX_IMAGE_PIXELS  # no global setting leaked


def test_limits_from_settings() -> None:
    limits = ImageLimits.from_settings(Settings(max_image_bytes=1234, max_image_pixels=5678))
    assert limits == ImageLimits(max_bytes=1234, max_pixels=5678)
    assert ImageLimits.from_settings(Settings()) == ImageLimits()
