"""Labelled and unlabelled packed faces together, each with its teacher vector: the distillation training set."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from training.data.dataset import PackedFaces
from training.distill.cache import cache_dir, load_teacher_vectors, read_cache_manifest

UNLABELLED = -1  # the label of a face that only the distillation terms see
OVERLAP_FILE = "lfw_overlap.json"  # written by training.distill.overlap into the teacher cache folder


def overlap_excluded(data_dir: Path) -> list[int]:
    """Indices (shards' order) of data_dir's faces that near-duplicate an evaluation image; refuses a missing search."""
    path = cache_dir(data_dir) / OVERLAP_FILE
    if not path.exists():
        raise FileNotFoundError(f"{data_dir} has not been searched for LFW near-duplicates; run "
                                f"`facever distill overlap {data_dir}` (or set distill.drop_lfw_overlap: false)")
    return [int(i) for i in json.loads(path.read_text())["excluded"]]


class DistillFaces(Dataset[tuple[Tensor, int, Tensor]]):
    """Items (crop (3, 112, 96) float32, label or UNLABELLED, unit teacher vector (128,) float32).

    labelled: a packed folder whose labels the classification terms use (None: no labelled faces);
    unlabelled: packed folders used for distillation only, optionally only their `unlabelled_groups`
    (identity folders, e.g. "utkface_adult"); with use_labels=False the labelled folder's faces are
    unlabelled too. Every folder needs its teacher cache; drop_overlap leaves out the faces that
    `facever distill overlap` found to near-duplicate LFW images. `teacher_mean` (128,) is the mean teacher
    vector over the set (training.losses.distill uses it to centre the targets).
    """

    def __init__(self, labelled: Path | None, unlabelled: Sequence[Path] = (), *, use_labels: bool = True,
                 unlabelled_groups: Sequence[str] | None = None, drop_overlap: bool = True,
                 train: bool = True) -> None:
        def packed(path: Path, groups: Sequence[str] | None) -> PackedFaces:
            exclude = overlap_excluded(path) if drop_overlap else None
            return PackedFaces(path, train=train, identities=groups, exclude=exclude)

        self.parts: list[tuple[PackedFaces, bool]] = []
        if labelled is not None:
            self.parts.append((packed(Path(labelled), None), use_labels))
        self.parts += [(packed(Path(path), unlabelled_groups), False) for path in unlabelled]
        if not self.parts:
            raise ValueError("distillation needs at least one packed folder")
        self.teacher = np.concatenate([load_teacher_vectors(part.data_dir)[part.source_index]
                                       for part, _ in self.parts])
        teachers = {json.dumps(read_cache_manifest(part.data_dir).teacher, sort_keys=True) for part, _ in self.parts}
        if len(teachers) > 1:
            raise ValueError(f"the folders' teacher caches were made by different teachers: {sorted(teachers)}")
        self.teacher_sha256: dict[str, str] = json.loads(teachers.pop())
        self.teacher_mean = self.teacher.mean(axis=0)
        self.offsets = np.cumsum([0] + [len(part) for part, _ in self.parts])
        # the labelled folder's classes give the classifier its size even when its labels go unused
        labelled_part = self.parts[0][0] if labelled is not None else None
        self.num_classes = labelled_part.num_classes if labelled_part is not None else 0
        self.identities = labelled_part.identities if labelled_part is not None else []
        self.dropped = sum(len(overlap_excluded(part.data_dir)) for part, _ in self.parts) if drop_overlap else 0

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def labelled_count(self) -> int:
        return sum(len(part) for part, keeps_labels in self.parts if keeps_labels)

    def __getitem__(self, i: int) -> tuple[Tensor, int, Tensor]:
        k = int(np.searchsorted(self.offsets, i, side="right")) - 1
        part, keeps_labels = self.parts[k]
        x, label = part[i - int(self.offsets[k])]
        return x, label if keeps_labels else UNLABELLED, torch.from_numpy(self.teacher[i])

    def stats(self) -> str:
        return (f"distillation set: {len(self)} faces ({self.labelled_count} labelled; "
                f"{len(self) - self.labelled_count} unlabelled), {self.dropped} LFW near-duplicates left out; "
                + "; ".join(part.stats() for part, _ in self.parts))
