"""Samplers that make training resumable bit for bit and validation count every image once.

Training order and augmentation are functions of ``(seed, epoch, position)`` alone, not of a
random stream that depends on what ran before, how many workers there are or whether the process
was restarted:

- :class:`ResumableSampler` yields, per epoch, a permutation drawn from ``seed + epoch``, sharded
  over DDP ranks (every rank the same number of samples, as DDP needs), and can start an epoch at
  a given batch, which is how a run resumed mid-epoch skips what it already trained on.
- Each element it yields is a :class:`SampleKey` ``(index, seed)``; the dataset seeds the
  augmentation of that one sample with it (:meth:`VOCSegmentation.__getitem__`).
- :class:`ShardedEvalSampler` splits validation over ranks *without* padding, unlike
  ``DistributedSampler``, whose repeated images would count twice in the confusion matrix.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch.utils.data import Sampler

# Odd 63-bit constants that spread (seed, epoch, index) into well-separated sample seeds.
_EPOCH_MIX = 0x9E3779B97F4A7C15 >> 1
_INDEX_MIX = 0xBF58476D1CE4E5B9 >> 1


class SampleKey(NamedTuple):
    """What the training sampler yields: the dataset index and the seed of its augmentation."""

    index: int
    seed: int


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of dataset ``index`` in ``epoch`` of a run seeded ``seed``."""
    return (seed * _EPOCH_MIX + epoch * _INDEX_MIX + index) % (2**63 - 1)


class ResumableSampler(Sampler[SampleKey]):
    """Seeded per-epoch shuffling, sharded over ranks, that can start an epoch mid-way.

    Args:
        length: dataset size.
        seed: run seed; epoch ``e``'s order is ``randperm(length)`` drawn from ``seed + e``.
        batch_size: the loader's batch size (``start_batch`` counts batches of it).
        shuffle: permute each epoch (training); ``False`` keeps dataset order.
        rank, world_size: this process's shard; each rank gets ``length // world_size`` samples
            (the remainder is left out this epoch, a different one each epoch).
    """

    def __init__(
        self,
        length: int,
        seed: int,
        batch_size: int,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.length, self.seed, self.batch_size = length, seed, batch_size
        self.shuffle, self.rank, self.world_size = shuffle, rank, world_size
        self.epoch = 0
        self.start_batch = 0  # batches of self.epoch already trained (set when resuming)

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning before each epoch; a new epoch starts at its first batch."""
        if epoch != self.epoch:
            self.start_batch = 0
        self.epoch = epoch

    def resume_at(self, epoch: int, batch: int) -> None:
        """Make the next iteration epoch ``epoch`` from batch ``batch`` on."""
        self.epoch, self.start_batch = epoch, batch

    def __len__(self) -> int:
        return self.length // self.world_size

    def order(self, epoch: int) -> list[int]:
        """This rank's dataset indices for ``epoch``, in order."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + epoch)
            indices = torch.randperm(self.length, generator=generator).tolist()
        else:
            indices = list(range(self.length))
        return indices[self.rank : len(self) * self.world_size : self.world_size]

    def __iter__(self) -> Iterator[SampleKey]:
        # Built eagerly: Lightning may call set_epoch after the iterator exists.
        epoch = self.epoch
        indices = self.order(epoch)[self.start_batch * self.batch_size :]
        return iter([SampleKey(i, sample_seed(self.seed, epoch, i)) for i in indices])


class ShardedEvalSampler(Sampler[int]):
    """Dataset order split over ranks with no padding: every index on exactly one rank.

    Ranks may get different numbers of samples (the first ``length % world_size`` one more);
    metric states are summed across ranks afterwards, so each image counts exactly once.
    """

    def __init__(self, length: int, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.length, self.rank, self.world_size = length, rank, world_size

    def __len__(self) -> int:
        return max(0, math.ceil((self.length - self.rank) / self.world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.length, self.world_size))


def sample_indices(num_items: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(num_items)``: the same set in every run."""
    if num_items <= 0 or count <= 0:
        return []
    count = min(count, num_items)
    return sorted({round(i * (num_items - 1) / max(1, count - 1)) for i in range(count)})
