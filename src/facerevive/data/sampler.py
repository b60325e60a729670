"""Resumable training order: shuffled epochs, a random seed per sample, and a loader that restarts mid-epoch.

Why: Lightning resumes a mid-epoch checkpoint by restarting a plain DataLoader at the start of its epoch, and
a degradation stream that lives in the dataset (or in DataLoader workers) is not saved at all. Here the data
of a run is a pure function of (seed, epoch, position in the epoch):

- `ResumableSampler` shuffles with `seed + epoch` (as `DistributedSampler` does; it is one, so Lightning
  leaves it in place under DDP), deals positions to ranks round-robin, and yields `(index, sample_seed)` with
  `sample_seed` drawn from (seed, epoch, global position). It can start an epoch at a given global position.
- `SeededDataset` hands `sample_seed` to the dataset's `reseed` before fetching the sample, so the degradations
  do not depend on the number of workers, on prefetching, or on what ran before.
- `ResumableDataLoader` implements Lightning's `state_dict` / `load_state_dict` protocol: it records how many
  batches the training loop has consumed in the current epoch (asked of the trainer through `batches_done`,
  because the loader itself runs ahead by its prefetch), and a restored loader resumes at the next one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sized
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

log = logging.getLogger(__name__)


class SampleKey(NamedTuple):
    """What `ResumableSampler` yields: a dataset index and the seed of that sample's random draws."""

    index: int  # type: ignore[assignment]  # the dataset index: the field shadows tuple.index on purpose
    seed: int


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """A 64-bit seed for the sample at `position` of `epoch` (independent streams via numpy's SeedSequence)."""
    return int(np.random.SeedSequence([seed, epoch, position]).generate_state(1, np.uint64)[0])


def dataset_size(dataset: Dataset) -> int:
    """`len(dataset)`; a dataset without a length cannot be shuffled or resumed by position."""
    if not isinstance(dataset, Sized):
        raise TypeError(f"{type(dataset).__name__} has no len(): a resumable order needs a map-style dataset")
    return len(dataset)


class ResumableSampler(DistributedSampler):
    """Shuffled, padded to a multiple of `num_replicas`, rank `r` takes global positions r, r + W, r + 2W, ...

    The permutation equals `DistributedSampler`'s for the same seed and epoch. `resume(epoch, position)` makes
    the next iteration start that epoch at the given global position (a multiple of `num_replicas` when the
    world size is unchanged); it applies once, and `set_epoch` to another epoch cancels it.
    """

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, seed: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False)
        self._start_position = 0

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self._start_position = 0
        super().set_epoch(epoch)

    def resume(self, epoch: int, position: int) -> None:
        self.epoch = epoch
        self._start_position = position

    def order(self) -> list[int]:
        """This epoch's global order of dataset indices, padded to `total_size`."""
        n = dataset_size(self.dataset)
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + self.epoch)
            indices = torch.randperm(n, generator=generator).tolist()
        else:
            indices = list(range(n))
        padding = self.total_size - n
        if padding > 0:
            indices += (indices * math.ceil(padding / n))[:padding]
        return indices

    def __iter__(self) -> Iterator[SampleKey]:
        indices = self.order()
        start, self._start_position = self._start_position, 0
        first = start + (self.rank - start) % self.num_replicas
        for position in range(first, self.total_size, self.num_replicas):
            yield SampleKey(indices[position], sample_seed(self.seed, self.epoch, position))


class SeededDataset(Dataset):
    """Fetches `dataset[index]` after `dataset.reseed(sample_seed)` for a `SampleKey` (plain indices pass through).

    A dataset without `reseed` is fetched as it is: its order still resumes exactly, its own randomness not.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.reseed = getattr(dataset, "reseed", None)

    def __len__(self) -> int:
        return dataset_size(self.dataset)

    def __getitem__(self, key: SampleKey | int) -> Any:
        if isinstance(key, SampleKey):
            if self.reseed is not None:
                self.reseed(key.seed)
            return self.dataset[key.index]
        return self.dataset[key]


class ResumableDataLoader(DataLoader):
    """A DataLoader over a `ResumableSampler` whose position in the epoch is saved in Lightning checkpoints.

    `batches_done()` returns how many batches of the current epoch the training loop has consumed (on this rank).
    """

    def __init__(self, dataset: Dataset, *args: Any, batches_done: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(dataset, *args, **kwargs)
        self.batches_done = batches_done

    @property
    def resumable_sampler(self) -> ResumableSampler | None:
        """None when the sampler was swapped (Lightning's `overfit_batches` rebuilds the loader sequential)."""
        return self.sampler if isinstance(self.sampler, ResumableSampler) else None

    def state_dict(self) -> dict[str, Any]:
        """Where the next batch starts; a finished epoch is saved as the start of the next one.

        (Lightning creates the iterator of a restored run before it calls `set_epoch`, so the state must
        already name the epoch that comes next.)
        """
        sampler = self.resumable_sampler
        if sampler is None:
            return {}
        if self.batch_size is None:
            raise ValueError("a resumable train loader needs batch_size (not a batch_sampler)")
        epoch, batches = sampler.epoch, self.batches_done()
        if batches >= len(self):
            epoch, batches = epoch + 1, 0
        position = batches * self.batch_size * sampler.num_replicas
        return {
            "epoch": epoch,
            "position": position,
            "batch_size": self.batch_size,
            "num_replicas": sampler.num_replicas,
            "seed": sampler.seed,
            "dataset_size": dataset_size(sampler.dataset),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        sampler = self.resumable_sampler
        if sampler is None or not state:
            log.warning("train loader: no saved position to resume from (or not resumable); its epoch starts over")
            return
        now = {"batch_size": self.batch_size, "num_replicas": sampler.num_replicas, "seed": sampler.seed}
        now["dataset_size"] = dataset_size(sampler.dataset)
        changed = {key: (state.get(key), value) for key, value in now.items() if state.get(key) != value}
        if "dataset_size" in changed or "seed" in changed:
            log.warning(
                "train data changed since the checkpoint (%s): its epoch %d starts over", changed, state["epoch"]
            )
            sampler.resume(state["epoch"], 0)
            return
        if changed:
            log.warning("resuming with %s changed: same samples from the same position, not bit-exact", changed)
        sampler.resume(state["epoch"], state["position"])
