"""The unlabelled CelebA faces for distillation: the photos of the public CelebA copies whose person the
labelled subset does not hold.

The labelled subset keeps only people with enough photos; the same copies hold thousands of photos of other
people. They carry no usable label here (too few photos per person), but the teacher's vector needs none.
A file name is a CelebA image id, so photos found in several copies are taken once (the first copy wins),
and CelebA's `identity_CelebA.txt` tells whose photo it is.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from training.data.sources import IMAGE_SUFFIXES


@dataclass(frozen=True)
class Gathered:
    """What `gather` wrote: photos and people, and what it skipped."""

    photos: int
    people: int
    labelled_people: int  # photos skipped because the labelled subset holds their person
    duplicates: int  # the same CelebA file found again in a later copy
    unknown: int  # file names that identity_CelebA.txt does not list


def read_identities(path: Path) -> dict[str, int]:
    """CelebA's `identity_CelebA.txt` ("000001.jpg 2880" per line, an optional header) -> {file name: identity}."""
    identities: dict[str, int] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            identities[parts[0]] = int(parts[1])
    if not identities:
        raise ValueError(f"{path}: no 'file identity' lines; expected CelebA's identity_CelebA.txt")
    return identities


def labelled_identities(manifest: Path) -> set[int]:
    """The CelebA identities of the labelled subset, from its manifest.csv (column `identity`)."""
    with manifest.open(newline="") as f:
        return {int(row["identity"]) for row in csv.DictReader(f)}


def gather(copies: Sequence[Path], identities: dict[str, int], labelled: set[int], out: Path) -> Gathered:
    """Copy every photo of `copies` whose person is not in `labelled` to `out/<identity>/<file>`.

    `copies` are folders searched recursively, in order of preference. Raises FileExistsError if `out` holds
    anything: a second gather into it would mix two selections.
    """
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; gather into a new folder")
    seen: set[str] = set()
    people: set[int] = set()
    photos = duplicates = unknown = skipped = 0
    for copy in copies:
        for path in sorted(p for p in copy.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
            if path.name in seen:
                duplicates += 1
                continue
            seen.add(path.name)
            identity = identities.get(path.name)
            if identity is None:
                unknown += 1
            elif identity in labelled:
                skipped += 1
            else:
                target = out / f"{identity:05d}" / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                photos += 1
                people.add(identity)
    return Gathered(photos, len(people), skipped, duplicates, unknown)
