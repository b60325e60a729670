"""LightningDataModule for face restoration: train / val / test datasets in, DataLoaders out.

Datasets arrive Hydra-instantiated, either as objects or as partials (`_partial_: true`, called in `setup`, so
each process builds its own). Training data is a pure function of (`seed`, epoch, position in the epoch): the
train loader is a `ResumableDataLoader` over a `ResumableSampler` (a `DistributedSampler`, built with the
trainer's rank and world size, so Lightning leaves it in place and calls `set_epoch` every epoch), and every
sample's degradations are drawn from its own seed. So runs do not depend on the number of workers, and a
checkpoint saved mid-epoch resumes at the next batch with the same data (see `facerevive.data.sampler`).
Val/test loaders are plain; under DDP Lightning gives them a non-shuffling distributed sampler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

import lightning as L
from hydra.utils import instantiate
from lightning.fabric.utilities.data import AttributeDict
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset

from facerevive.data.sampler import ResumableDataLoader, ResumableSampler, SeededDataset
from facerevive.data.worker_threads import limit_worker_threads
from facerevive.utils.cpu_threads import default_num_workers

DatasetLike = Dataset | Callable[[], Dataset] | None
# Keys of a data config (configs/data/*.yaml) that hold values its dataset configs interpolate (`${..root}`), so
# that `data.root=...` or the group `data/degradation` is the one place to set them. They are not arguments of
# the module: `build_datamodule` resolves them into the datasets and leaves them out.
SHARED_KEYS = ("root", "out_size", "component_path", "degradation")


def _build(dataset: DatasetLike) -> Dataset | None:
    if dataset is None or isinstance(dataset, Dataset):
        return dataset
    if callable(dataset):
        return dataset()
    raise TypeError(f"expected a Dataset or a partial that builds one, got {type(dataset).__name__}")


class _ProcessedCount(Protocol):
    """A Lightning progress tracker that counts processed events."""

    processed: int


def _processed(tracker: object) -> int:
    """The `processed` count of a fit-loop progress tracker.

    Lightning annotates `_Progress.current` as the base `_ReadyCompletedTracker` but builds a `_ProcessedTracker`
    (its own `increment_processed` relies on that), so the cast states what the loop holds.
    """
    return cast(_ProcessedCount, tracker).processed


class FaceDataModule(L.LightningDataModule):
    """Wraps train/val/test datasets with loader settings (batch_size is per device, as in BasicSR).

    `seed` fixes the training order and degradations (null means 0: it must agree across ranks). A data config
    is built with `build_datamodule` (its shared values belong to the datasets, see SHARED_KEYS).
    """

    def __init__(
        self,
        train: DatasetLike = None,
        val: DatasetLike = None,
        test: DatasetLike = None,
        batch_size: int = 3,
        val_batch_size: int = 1,
        num_workers: int | None = None,
        persistent_workers: bool = True,
        pin_memory: bool = True,
        drop_last: bool = True,
        prefetch_factor: int | None = None,
        seed: int | None = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False, ignore=["train", "val", "test"])
        self._specs = {"train": train, "val": val, "test": test}
        self.datasets: dict[str, Dataset | None] = {"train": None, "val": None, "test": None}

    def setup(self, stage: str | None = None) -> None:
        wanted: dict[str | None, tuple[str, ...]] = {
            "fit": ("train", "val"),
            "validate": ("val",),
            "test": ("test",),
            "predict": ("test",),
        }
        for split in wanted.get(stage, ("train", "val", "test")):
            if self.datasets[split] is None:
                self.datasets[split] = _build(self._specs[split])

    @property
    def _settings(self) -> AttributeDict:
        """The loader settings recorded by `save_hyperparameters`.

        Lightning types `hparams` as any mutable mapping; `save_hyperparameters` stores an AttributeDict, which
        the cast states so the settings read as attributes.
        """
        return cast(AttributeDict, self.hparams)

    def _dataset(self, split: str) -> Dataset | None:
        """The split's dataset, built on first use."""
        if self.datasets[split] is None:
            self.setup({"train": "fit", "val": "validate", "test": "test"}[split])
        return self.datasets[split]

    def _loader_kwargs(self) -> dict[str, Any]:
        """Worker settings shared by every loader; each worker process runs on one thread (`limit_worker_threads`).
        `num_workers=None`: one worker per CPU this process may use besides itself (`default_num_workers`)."""
        workers = self._settings.num_workers
        if workers is None:
            workers = default_num_workers()
        kwargs: dict[str, Any] = {
            "num_workers": workers,
            "persistent_workers": self._settings.persistent_workers and workers > 0,
            "pin_memory": self._settings.pin_memory,
            "worker_init_fn": limit_worker_threads if workers > 0 else None,
        }
        if workers > 0 and self._settings.prefetch_factor is not None:
            kwargs["prefetch_factor"] = self._settings.prefetch_factor
        return kwargs

    def _eval_loader(self, split: str) -> DataLoader | list:
        dataset = self._dataset(split)
        if dataset is None:
            return []  # Lightning skips a stage whose loaders are an empty list
        return DataLoader(dataset, batch_size=self._settings.val_batch_size, shuffle=False, **self._loader_kwargs())

    def _train_batches_done(self) -> int:
        """Training batches of the current epoch that the fit loop has processed on this rank."""
        if self.trainer is None:
            return 0
        return _processed(self.trainer.fit_loop.epoch_loop.batch_progress.current)

    def train_dataloader(self) -> ResumableDataLoader:
        dataset = self._dataset("train")
        if dataset is None:
            raise RuntimeError("no train dataset configured (data.train is null)")
        kwargs = self._loader_kwargs()
        world_size, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer else (1, 0)
        sampler = ResumableSampler(dataset, num_replicas=world_size, rank=rank, seed=self._settings.seed or 0)
        if self.trainer:
            # The epoch Lightning will pass to `set_epoch`: it creates the first iterator before that call.
            sampler.set_epoch(_processed(self.trainer.fit_loop.epoch_progress.current))
        return ResumableDataLoader(
            SeededDataset(dataset),
            batch_size=self._settings.batch_size,
            sampler=sampler,
            drop_last=self._settings.drop_last,
            batches_done=self._train_batches_done,
            **kwargs,
        )

    def val_dataloader(self) -> DataLoader | list:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader | list:
        return self._eval_loader("test")


def build_datamodule(data: DictConfig) -> L.LightningDataModule:
    """Instantiate the data config `data` (`cfg.data`) once.

    The shared values (SHARED_KEYS) are resolved into the datasets that interpolate them and left out of the
    module's arguments, so every object is built once: the degradation pipeline only as the train dataset's.
    """
    config = OmegaConf.to_container(data, resolve=True)
    assert isinstance(config, dict)
    for key in SHARED_KEYS:
        config.pop(key, None)
    datamodule: L.LightningDataModule = instantiate(config)
    return datamodule
