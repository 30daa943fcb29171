"""How often LFW photos show several usable faces, and whether the largest is the person the photo is of.

Usage: python benchmarks/several_faces.py
Every LFW photo goes through the service's detector and quality gate at the default settings. For the photos
where two or more faces pass the gate, it records the second-largest face's box area over the largest's and
whether the largest is the labelled person: LFW photos are centred on the labelled person's face, so that is
the usable face nearest the image centre. Writes benchmarks/results/several_faces.json and the generated
section of docs/operations.md that justifies the enrolment rule's cut (SIMILAR_AREA_RATIO).
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import ROOT, write_json
from service.config import REPO_ROOT, Settings
from service.errors import FaceverError
from service.vision.detector import DetectedFace
from service.vision.face_choice import SIMILAR_AREA_RATIO
from service.vision.pipeline import FacePipeline
from training.doc_sections import replace_section

LFW_DIR = REPO_ROOT.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"
DOC = ROOT / "docs" / "operations.md"
BINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def photo_record(pipeline: FacePipeline, path: Path) -> dict | None:
    """The area ratio of a photo's two largest usable faces and whether the largest is the centred one; None
    when fewer than two faces pass the gate."""
    rgb = pipeline.decode(path.read_bytes())
    try:
        faces = sorted(pipeline.usable_faces(rgb), key=lambda face: face.area, reverse=True)
    except FaceverError:  # no usable face at all
        return None
    if len(faces) < 2:
        return None
    centre = np.array([rgb.shape[1] / 2, rgb.shape[0] / 2])
    labelled = min(range(len(faces)), key=lambda i: float(np.linalg.norm(_centre(faces[i]) - centre)))
    return {
        "photo": path.name,
        "faces": len(faces),
        "ratio": round(faces[1].area / faces[0].area, 4),
        "largest_is_labelled": labelled == 0,
    }


def _centre(face: DetectedFace) -> np.ndarray:
    x1, y1, x2, y2 = face.box
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2])


def summary(total: int, records: list[dict]) -> dict:
    """The counts the docs print: per bin of the area ratio, photos and photos whose largest face is not the
    labelled person; and what the cut SIMILAR_AREA_RATIO does with them."""
    rows = []
    for low, high in itertools.pairwise(BINS):
        inside = [r for r in records if low <= r["ratio"] < high or (high == 1.0 and r["ratio"] == 1.0)]
        rows.append({"ratio": f"{low:.1f}–{high:.1f}", "photos": len(inside), "largest_not_labelled": _wrong(inside)})
    clear = [r for r in records if r["ratio"] < SIMILAR_AREA_RATIO]
    ambiguous = [r for r in records if r["ratio"] >= SIMILAR_AREA_RATIO]
    first_wrong = min((r for r in records if not r["largest_is_labelled"]), key=lambda r: r["ratio"], default=None)
    return {
        "photos": total,
        "several_usable_faces": len(records),
        "cut": SIMILAR_AREA_RATIO,
        "table": rows,
        "enrolled": len(clear),
        "enrolled_wrong_person": _wrong(clear),
        # a one-sided 95 % upper bound on the wrong-person rate of what the cut enrols when none was observed
        "enrolled_wrong_upper_95": round(1 - 0.05 ** (1 / len(clear)), 4) if clear and not _wrong(clear) else None,
        "refused": len(ambiguous),
        "refused_largest_wrong_person": _wrong(ambiguous),
        "lowest_ratio_largest_wrong_person": first_wrong,
    }


def _wrong(records: list[dict]) -> int:
    return sum(not r["largest_is_labelled"] for r in records)


def markdown(result: dict) -> str:
    first = result["lowest_ratio_largest_wrong_person"]
    bound = result["enrolled_wrong_upper_95"]
    lines = [
        (
            f"Measured by `python benchmarks/several_faces.py` on the {result['photos']:,} LFW photos at the default "
            f"settings: {result['several_usable_faces']} show two or more faces that pass the quality gate. LFW "
            "photos are centred on the labelled person, so the face nearest the centre is the one the photo is of; "
            "the table counts, by the second-largest face's area over the largest's, the photos whose largest face "
            "is someone else."
        ),
        "",
        "| second / largest area | photos | largest face is not the labelled person |",
        "|---|---|---|",
        *(f"| {row['ratio']} | {row['photos']} | {row['largest_not_labelled']} |" for row in result["table"]),
        "",
        (
            f"With the cut at {result['cut']:g}, enrolment takes the largest face of {result['enrolled']} of these "
            f"photos, the wrong person in {result['enrolled_wrong_person']}"
            + (f" (at most {bound * 100:.1f} % at 95 % confidence)" if bound is not None else "")
            + f", and refuses {result['refused']} as `multiple_faces`, where the largest face is the wrong person "
            f"in {result['refused_largest_wrong_person']}"
            + (f" (the lowest ratio at which it is: {first['ratio']:.2f}, {first['photo']})" if first else "")
            + f". A rule refusing every photo with a second usable face refuses all {result['several_usable_faces']}."
        ),
    ]
    return "\n".join(lines)


def main() -> None:
    pipeline = FacePipeline.from_settings(Settings(), with_embedder=False)
    photos = sorted(LFW_DIR.glob("*/*.jpg"))
    records = [r for path in tqdm(photos, unit="photo") if (r := photo_record(pipeline, path)) is not None]
    result = summary(len(photos), records)
    write_json("several_faces", result)
    replace_section(DOC, "several_faces", markdown(result), "")
    print(markdown(result))


if __name__ == "__main__":
    main()
