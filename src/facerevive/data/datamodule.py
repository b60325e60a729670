"""LightningDataModule for face restoration: train / val / test datasets in, DataLoaders out.

Datasets arrive Hydra-instantiated, either as objects or as partials (`_partial_: true`, called in `setup`, so
each process builds its own). DDP: the train loader asks for `shuffle=True` and no sampler, so Lightning's
`use_distributed_sampler` (on by default) swaps in a `DistributedSampler` with the right rank and world size and
calls `set_epoch` every epoch; val/test get a non-shuffling one. Worker seeding: the DataLoader seeds each worker
from the main process's torch RNG, and `FFHQDegradationDataset` seeds its degradation stream from that worker
seed and the rank, so `seed_everything(seed)` makes runs reproducible for a fixed number of workers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
from torch.utils.data import DataLoader, Dataset

DatasetLike = Dataset | Callable[[], Dataset] | None


def _build(dataset: DatasetLike) -> Dataset | None:
    if dataset is None or isinstance(dataset, Dataset):
        return dataset
    if callable(dataset):
        return dataset()
    raise TypeError(f"expected a Dataset or a partial that builds one, got {type(dataset).__name__}")


class FaceDataModule(L.LightningDataModule):
    """Wraps train/val/test datasets with loader settings (batch_size is per device, as in BasicSR).

    `root`, `out_size` and `component_path` are not used here: they are the shared values that the dataset
    configs interpolate (`${..root}`), so that `data.root=...` is the one key to override; they are recorded
    in the hyperparameters.
    """

    def __init__(
        self,
        train: DatasetLike = None,
        val: DatasetLike = None,
        test: DatasetLike = None,
        root: str | None = None,
        out_size: int | None = None,
        component_path: str | None = None,
        batch_size: int = 3,
        val_batch_size: int = 1,
        num_workers: int = 6,
        persistent_workers: bool = True,
        pin_memory: bool = True,
        drop_last: bool = True,
        prefetch_factor: int | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False, ignore=["train", "val", "test"])
        self._specs = {"train": train, "val": val, "test": test}
        self.datasets: dict[str, Dataset | None] = {"train": None, "val": None, "test": None}

    def setup(self, stage: str | None = None) -> None:
        wanted = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}
        for split in wanted.get(stage, ("train", "val", "test")):
            if self.datasets[split] is None:
                self.datasets[split] = _build(self._specs[split])

    def _loader(self, split: str, train: bool) -> DataLoader | list:
        dataset = self.datasets[split]
        if dataset is None:
            self.setup({"train": "fit", "val": "validate", "test": "test"}[split])
            dataset = self.datasets[split]
        if dataset is None:
            if train:
                raise RuntimeError("no train dataset configured (data.train is null)")
            return []  # Lightning skips a stage whose loaders are an empty list
        workers = self.hparams.num_workers
        kwargs: dict[str, Any] = {}
        if workers > 0 and self.hparams.prefetch_factor is not None:
            kwargs["prefetch_factor"] = self.hparams.prefetch_factor
        return DataLoader(
            dataset,
            batch_size=self.hparams.batch_size if train else self.hparams.val_batch_size,
            shuffle=train,
            num_workers=workers,
            persistent_workers=self.hparams.persistent_workers and workers > 0,
            pin_memory=self.hparams.pin_memory,
            drop_last=self.hparams.drop_last if train else False,
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader | list:
        return self._loader("test", train=False)
