"""A torch Dataset over packed shards: labels remapped to 0..C-1, the service's normalisation, random flips."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from service.vision.embedder import preprocess
from training.data.shards import alignment_contract, load_shard, read_manifest


class PackedFaces(Dataset[tuple[Tensor, int]]):
    """Aligned crops of a prepared folder, as (3, 112, 96) float32 tensors and labels 0..num_classes-1.

    Crops are memory-mapped (shared by the page cache across loader workers, ~1 GB for 32k faces).
    `identities` keeps only those names (e.g. a split by identity); identities without crops are never
    classes. `exclude` drops faces by their index in the shards' order (e.g. near-duplicates of test images);
    `source_index` maps each kept item back to that index. With train=True each crop is flipped left-right with probability 1/2 (torch's RNG, which the
    DataLoader seeds per worker).
    """

    def __init__(self, data_dir: Path, *, train: bool = True, identities: Sequence[str] | None = None,
                 exclude: Sequence[int] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.train = train
        self.manifest = read_manifest(self.data_dir)
        if not self.manifest.complete:
            raise ValueError(f"{data_dir} is not completely prepared; re-run prepare to finish it")
        if self.manifest.alignment != alignment_contract():
            raise ValueError(f"{data_dir} was aligned with another crop size or template; prepare it again")
        shards = self.manifest.shards
        source = np.concatenate([load_shard(self.data_dir, s, mmap=True)[1] for s in shards] or [np.zeros(0, int)])
        shard_of = np.repeat(np.arange(len(shards)), [s.count for s in shards])
        row_of = np.concatenate([np.arange(s.count) for s in shards] or [np.zeros(0, int)])

        names = self.manifest.identities
        keep = np.unique(source)
        if identities is not None:
            wanted = set(identities)
            unknown = sorted(wanted - set(names))
            if unknown:
                raise KeyError(f"identities not in {data_dir}: {unknown[:5]}{' ...' if len(unknown) > 5 else ''}")
            keep = np.intersect1d(keep, [label for label, name in enumerate(names) if name in wanted])
        remap = np.full(len(names), -1, np.int64)
        remap[keep] = np.arange(len(keep))
        mask = remap[source] >= 0
        if exclude is not None:
            mask[np.asarray(exclude, dtype=np.int64)] = False
        self.source_index = np.flatnonzero(mask)
        self.labels = remap[source[mask]]
        self._shard_of, self._row_of = shard_of[mask], row_of[mask]
        self.identities = [names[k] for k in keep]  # new label -> identity name
        self.num_classes = len(keep)
        self._crops: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def crop(self, i: int) -> np.ndarray:
        """The stored 112x96x3 uint8 RGB crop of item i, unflipped."""
        if self._crops is None:  # opened lazily so each loader worker maps the files itself
            self._crops = [load_shard(self.data_dir, s, mmap=True)[0] for s in self.manifest.shards]
        return self._crops[self._shard_of[i]][self._row_of[i]]

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        crop = self.crop(i)
        if self.train and torch.rand(()) < 0.5:
            crop = crop[:, ::-1]
        x = preprocess(np.ascontiguousarray(crop)[None])[0]
        return torch.from_numpy(np.ascontiguousarray(x)), int(self.labels[i])

    def __getstate__(self) -> dict[str, Any]:
        # memory maps would be pickled as copies of the data; workers reopen them instead
        return {**self.__dict__, "_crops": None}

    def stats(self) -> str:
        """Printable statistics: images, identities, images per identity min/median/max, prepare's drops."""
        counts = np.bincount(self.labels, minlength=self.num_classes)
        spread = (f"min {counts.min()} / median {np.median(counts):g} / max {counts.max()}"
                  if self.num_classes else "n/a")
        return (f"{self.data_dir}: {len(self)} images, {self.num_classes} identities, "
                f"images per identity {spread}; {len(self.manifest.failures)} input images dropped by prepare")


def make_loader(
    dataset: Dataset[Any],
    batch_size: int,
    *,
    shuffle: bool,
    workers: int = 2,
    seed: int = 0,
    drop_last: bool = True,
    sampler: Sampler[int] | None = None,
) -> DataLoader[Any]:
    """A DataLoader whose order and per-worker RNG (the flips) follow `seed`.

    A given `sampler` (e.g. DistributedSampler; call its set_epoch) decides the order and `shuffle` is then
    ignored. With workers=0 the flips draw from torch's global RNG, so seed it for repeatable flips.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=workers,
        generator=torch.Generator().manual_seed(seed),
        drop_last=drop_last,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
    )
