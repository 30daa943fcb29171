"""Schemathesis hooks of benchmarks/api_fuzz.py (SCHEMATHESIS_HOOKS=benchmarks.api_fuzz_hooks): what image fields carry.

The OpenAPI document types an image field as bytes (multipart `format: binary`, JSON base64 `format: byte`) and
says in words what else it must be: an image the service decodes, showing a usable face. Schemathesis cannot
read words, and random bytes fit the type, so image fields are drawn here, from $API_FUZZ_PHOTOS (files
<n>.<ext>, each a photo with exactly one usable face) by $API_FUZZ_IMAGES:

  photos     a photo, in the media type the multipart part declares: positive data really is valid
  any-bytes  a photo cut short, or random bytes: what the decoder must refuse, with a coded 4xx
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import schemathesis
from hypothesis import strategies as st

PHOTOS_ENV, IMAGES_ENV = "API_FUZZ_PHOTOS", "API_FUZZ_IMAGES"
MULTIPART = "multipart/form-data"
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "bmp": "image/bmp"}


def _photos(folder: Path, extension: str) -> st.SearchStrategy[bytes]:
    files = sorted(folder.glob(f"*.{extension}"))
    if not files:
        raise RuntimeError(f"no *.{extension} photos in {folder} (${PHOTOS_ENV})")
    return st.sampled_from([path.read_bytes() for path in files])


def _any_bytes(photos: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Never a whole photo: the pass that draws these sends invalid requests too, which must stay invalid."""
    cut_short = st.tuples(photos, st.floats(0, 0.95)).map(lambda drawn: drawn[0][: int(len(drawn[0]) * drawn[1])])
    return st.one_of(cut_short, st.binary(max_size=4096))


def register(folder: Path, kind: str) -> None:
    """Multipart parts by their declared media type, any other `format: binary` alike, and JSON images (the only
    `format: byte` fields) as base64 of the same."""
    by_type = {media_type: _photos(folder, extension) for extension, media_type in MEDIA_TYPES.items()}
    if kind == "any-bytes":
        by_type = {media_type: _any_bytes(photos) for media_type, photos in by_type.items()}
    elif kind != "photos":
        raise RuntimeError(f"${IMAGES_ENV} is photos or any-bytes, not {kind!r}")
    for media_type, images in by_type.items():
        schemathesis.openapi.media_type(media_type, images)
    images = st.one_of(*by_type.values())
    schemathesis.openapi.format("binary", images)
    schemathesis.openapi.format("byte", images.map(lambda data: base64.b64encode(data).decode()))


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict) -> None:
    """Send a lone image drawn for a list field (enrolment's `images`) as a one-image list.

    The media type strategies above fill a list field with one image, and schemathesis sends a lone value of a
    list field as a part without a filename, which the API refuses as documented ("sent as a file"). As a
    one-item list it goes as the file part a client sends.
    """
    negative = case.meta is not None and not case.meta.generation.mode.is_positive
    if negative or case.media_type != MULTIPART or not isinstance(case.body, dict):
        return  # a negative case may mean its lone value (not a list): it stays as drawn
    properties = case.operation.definition.raw["requestBody"]["content"][MULTIPART]["schema"]["properties"]
    for name, value in case.body.items():
        if isinstance(value, bytes) and properties.get(name, {}).get("type") == "array":
            case.body[name] = [value]


register(Path(os.environ[PHOTOS_ENV]), os.environ[IMAGES_ENV])
