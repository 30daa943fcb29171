"""torchrun/DDP plumbing and the resumable, rank-sharded sample order and augmentation: pure functions of (seed, epoch)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Dataset, Sampler

SampleKey = tuple[int, int]  # (RNG seed for this sample's augmentation, dataset index)


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the job (rank 0 of 1 when not launched by torchrun)."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None) -> DistEnv:
    """Read torchrun's RANK/WORLD_SIZE/LOCAL_RANK; join the process group (NCCL on CUDA, gloo on CPU)."""
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    kind = device or ("cuda" if torch.cuda.is_available() else "cpu")
    target = torch.device(kind, local_rank) if kind == "cuda" else torch.device(kind)
    if kind == "cuda":
        torch.cuda.set_device(target)
    if world > 1 and not dist.is_initialized():
        # a long timeout: the other ranks wait in an all-reduce while rank 0 aligns LFW for the first check
        dist.init_process_group("nccl" if kind == "cuda" else "gloo", rank=rank, world_size=world,
                                timeout=timedelta(minutes=60), device_id=target if kind == "cuda" else None)
    return DistEnv(rank, world, local_rank, target)


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def mean_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """Average a small tensor over all ranks (identity when not distributed)."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        values = values.clone()
        dist.all_reduce(values)
        values /= dist.get_world_size()
    return values


def _mix(*values: int) -> int:
    """A non-negative 63-bit seed from ints; tuples of ints hash alike in every process (no PYTHONHASHSEED salt)."""
    return hash(values) & 0x7FFF_FFFF_FFFF_FFFF


class EpochSampler(Sampler[SampleKey]):
    """A fresh permutation per epoch from (seed, epoch), split over ranks, able to start mid-epoch.

    Unlike DistributedSampler it drops the tail so that every rank gets exactly ``steps_per_epoch``
    full batches (no padding duplicates), and ``set_epoch(epoch, skip_batches)`` starts after the
    batches a resumed run has already consumed, so N steps straight and N/2 + resume + N/2 see the
    same samples in the same order on every rank. Each index comes with a seed for its augmentation
    (see SeededItems), a function of (seed, epoch, position in the epoch): a persistent loader worker's
    RNG stream would otherwise depend on how many samples it drew before, which a resume changes.
    """

    def __init__(self, num_samples: int, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.steps_per_epoch = num_samples // (batch_size * world_size)
        if self.steps_per_epoch == 0:
            raise ValueError(f"{num_samples} samples cannot fill one batch of {batch_size} on {world_size} rank(s)")
        self.epoch, self.skip_batches = 0, 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch, self.skip_batches = epoch, skip_batches

    def epoch_order(self, epoch: int) -> list[SampleKey]:
        """This rank's (augmentation seed, index) pairs for a whole epoch (steps_per_epoch * batch_size)."""
        generator = torch.Generator().manual_seed(_mix(self.seed, epoch))
        used = self.steps_per_epoch * self.batch_size * self.world_size
        order = torch.randperm(self.num_samples, generator=generator)[:used].tolist()
        keyed = [(_mix(self.seed, epoch, position), index) for position, index in enumerate(order)]
        return keyed[self.rank::self.world_size]

    def __iter__(self) -> Iterator[SampleKey]:
        return iter(self.epoch_order(self.epoch)[self.skip_batches * self.batch_size:])

    def __len__(self) -> int:
        return (self.steps_per_epoch - self.skip_batches) * self.batch_size


class SeededItems(Dataset[Any]):
    """Wraps a dataset whose augmentation draws from torch's RNG: item (seed, i) is dataset[i] drawn under seed.

    The global RNG of the calling process (the trainer's own, when workers = 0) is left as it was.
    """

    def __init__(self, dataset: Dataset[Any]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: SampleKey) -> Any:
        seed, index = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dataset[index]
