"""Verification pair lists: LFW's pairs.txt and generic CSV/TSV lists, as one PairList type."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TRUE_WORDS = frozenset({"1", "true", "yes", "genuine"})  # not "same": that is the usual header
FALSE_WORDS = frozenset({"0", "false", "no", "impostor"})


@dataclass(frozen=True)
class PairList:
    """N verification pairs: image paths a/b, whether both show one person, and the fold of each pair."""

    path_a: tuple[Path, ...]
    path_b: tuple[Path, ...]
    same: np.ndarray  # (N,) bool
    folds: np.ndarray  # (N,) int, fold ids 0..K-1

    def __post_init__(self) -> None:
        n = len(self.path_a)
        if not (len(self.path_b) == len(self.same) == len(self.folds) == n):
            raise ValueError("path_a, path_b, same and folds must have one entry per pair")

    def __len__(self) -> int:
        return len(self.path_a)

    @property
    def n_folds(self) -> int:
        return len(np.unique(self.folds))

    def unique_paths(self) -> list[Path]:
        """Every image the pairs use, once, in first-use order (each LFW image is in several pairs)."""
        return list(dict.fromkeys(self.path_a + self.path_b))

    def missing_paths(self) -> list[Path]:
        return [path for path in self.unique_paths() if not path.is_file()]

    def select(self, index: np.ndarray) -> PairList:
        """The pairs at `index` (integer positions), in that order."""
        return PairList(
            tuple(self.path_a[i] for i in index),
            tuple(self.path_b[i] for i in index),
            self.same[index],
            self.folds[index],
        )

    def first_per_fold(self, n: int, folds: int | None = None) -> PairList:
        """A quick subset: the first n same and first n different pairs of each (of the first `folds`) fold."""
        keep: list[int] = []
        for fold in np.unique(self.folds)[:folds]:
            for flag in (True, False):
                keep.extend(np.flatnonzero((self.folds == fold) & (self.same == flag))[:n])
        return self.select(np.array(sorted(keep), dtype=np.int64))


def lfw_image_path(images_dir: Path, name: str, number: int) -> Path:
    return images_dir / name / f"{name}_{number:04d}.jpg"


def lfw_pairs(pairs_txt: str | Path, images_dir: str | Path) -> PairList:
    """Parse LFW's pairs.txt: a "folds pairs-per-class" header, then per fold n same and n different lines.

    Same lines are `name i j`, different lines `name1 i name2 j`, numbers 1-based as in the file names.
    """
    images_dir = Path(images_dir)
    lines = [line.split() for line in Path(pairs_txt).read_text().splitlines() if line.strip()]
    n_folds, per_class = (int(v) for v in lines[0])
    body = lines[1:]
    if len(body) != 2 * n_folds * per_class:
        raise ValueError(f"{pairs_txt}: header says {n_folds} folds x {2 * per_class} pairs, found {len(body)}")
    path_a: list[Path] = []
    path_b: list[Path] = []
    same: list[bool] = []
    for fields in body:
        if len(fields) == 3:
            name, i, j = fields
            path_a.append(lfw_image_path(images_dir, name, int(i)))
            path_b.append(lfw_image_path(images_dir, name, int(j)))
        elif len(fields) == 4:
            name_a, i, name_b, j = fields
            path_a.append(lfw_image_path(images_dir, name_a, int(i)))
            path_b.append(lfw_image_path(images_dir, name_b, int(j)))
        else:
            raise ValueError(f"{pairs_txt}: bad pair line {' '.join(fields)!r}")
        same.append(len(fields) == 3)
    folds = np.arange(len(body)) // (2 * per_class)
    return PairList(tuple(path_a), tuple(path_b), np.array(same), folds)


def read_pair_list(path: str | Path, root: str | Path | None = None, n_folds: int = 10) -> PairList:
    """A generic list `path_a,path_b,same[,fold]` (CSV, or TSV when the name ends in .tsv).

    Relative image paths are taken from `root` (default: the list's folder). A header row is skipped
    when its third field is not a same/different word. Without a fold column, pairs are cut into
    `n_folds` contiguous blocks, so the list's author controls the folds by ordering it.
    """
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open(newline="") as fh:
        rows = [[field.strip() for field in row] for row in csv.reader(fh, delimiter=delimiter) if row]
    if rows and rows[0][2].lower() not in TRUE_WORDS | FALSE_WORDS:
        rows = rows[1:]
    same = np.array([_same_flag(row[2], path) for row in rows], dtype=bool)
    if rows and all(len(row) > 3 for row in rows):
        folds = np.unique([int(row[3]) for row in rows], return_inverse=True)[1]
    else:
        folds = np.arange(len(rows)) * n_folds // max(len(rows), 1)
    return PairList(
        tuple(root / row[0] for row in rows), tuple(root / row[1] for row in rows), same, folds.astype(np.int64)
    )


def _same_flag(word: str, path: Path) -> bool:
    word = word.lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        raise ValueError(f"{path}: same flag must be one of {sorted(TRUE_WORDS | FALSE_WORDS)}, got {word!r}")
    return word in TRUE_WORDS
