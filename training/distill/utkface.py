"""UTKFace as unlabelled faces for distillation, split into adults and children by the age in each file name.

UTKFace (Zhang, Song & Qi, CVPR 2017) names each face `<age>_<gender>_<race>_<date>.jpg.chip.jpg`. Its people
have one photo each, so the faces carry no identity label; the teacher's vector needs none. Children are kept
apart because a student of adults' faces may gain or lose from them: each part is prepared as its own folder,
so a recipe can take the adults alone or both.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from training.data.sources import IMAGE_SUFFIXES

CHILD_AGE = 15  # under this age a face goes to the children's part
ADULT, CHILD = "adult", "child"


@dataclass(frozen=True)
class Split:
    """What `split_by_age` wrote, and the files whose name gives no age."""

    adults: int
    children: int
    unnamed: int


def age_of(name: str) -> int | None:
    """The age a UTKFace file name starts with ("26_1_0_2017...jpg.chip.jpg" -> 26), None if it gives none."""
    first = name.split("_", 1)[0]
    return int(first) if first.isdigit() and "_" in name else None


def split_by_age(source: Path, out: Path, child_age: int = CHILD_AGE) -> Split:
    """Copy the faces of `source` (searched recursively) to `out/adult/<age>/` and `out/child/<age>/`.

    Ages under `child_age` are children. Raises FileExistsError if `out` holds anything, and ValueError if
    `source` has no UTKFace-named image (e.g. a wrong folder).
    """
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; split into a new folder")
    counts = {ADULT: 0, CHILD: 0}
    unnamed = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        age = age_of(path.name)
        if age is None:
            unnamed += 1
            continue
        part = CHILD if age < child_age else ADULT
        target = out / part / f"{age:03d}" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        counts[part] += 1
    if not counts[ADULT] + counts[CHILD]:
        raise ValueError(f"{source}: no image named <age>_<gender>_<race>_<date>...; expected UTKFace's faces")
    return Split(counts[ADULT], counts[CHILD], unnamed)
