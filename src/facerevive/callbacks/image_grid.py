"""Image grids every N iterations: LQ | restored | GT and the U-Net pyramid, as labelled PNG files and logger
images. The faces are a fixed set (the first `max_images` training faces) with fixed degradations (drawn from
`seed`), the same at every iteration and in every run, so grids from different iterations compare."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from PIL import Image, ImageDraw, ImageFont
from torch.nn import functional as F
from torch.utils.data import default_collate
from torchvision.utils import make_grid, save_image

PADDING = 2
LABEL_HEIGHT = 20
FONT_SIZE = 14


def label_strip(labels: Sequence[str], tile: int, width: int) -> torch.Tensor:
    """A white (3, LABEL_HEIGHT, width) strip with each label centred over its grid column of `tile` px."""
    strip = Image.new("RGB", (width, LABEL_HEIGHT), "white")
    draw = ImageDraw.Draw(strip)
    font = ImageFont.load_default(size=FONT_SIZE)
    for column, label in enumerate(labels):
        centre = PADDING + column * (tile + PADDING) + tile / 2
        draw.text((centre, LABEL_HEIGHT / 2), label, fill="black", font=font, anchor="mm")
    return torch.from_numpy(np.asarray(strip).copy()).permute(2, 0, 1).float() / 255


def labelled_grid(columns: Mapping[str, torch.Tensor], tile: int) -> torch.Tensor:
    """One row per face, one labelled column per (label, (N,3,h,w) images in [-1,1]) entry, every face shown at
    `tile` px (nearest neighbour, so no detail is invented); a (3,H,W) image in [0,1]."""
    tiles = [F.interpolate(images.float().cpu(), size=(tile, tile), mode="nearest") for images in columns.values()]
    rows = torch.stack(tiles, dim=1).flatten(0, 1)
    body: torch.Tensor = make_grid(((rows + 1) / 2).clamp(0, 1), nrow=len(tiles), padding=PADDING, pad_value=1.0)
    return torch.cat([label_strip(list(columns), tile, body.shape[-1]), body], dim=1)


def restoration_grid(lq: torch.Tensor, restored: torch.Tensor, gt: torch.Tensor, tile: int) -> torch.Tensor:
    """LQ | restored | GT, one row per face."""
    return labelled_grid({"LQ": lq, "restored": restored, "GT": gt}, tile)


def pyramid_grid(pyramid: list[torch.Tensor], tile: int) -> torch.Tensor:
    """The U-Net's RGB outputs from 8 px up, one labelled column per level, one row per face."""
    return labelled_grid({f"{level.shape[-1]} px": level for level in pyramid}, tile)


def fixed_faces(dataset: Any, count: int, seed: int) -> dict[str, Any] | None:
    """The first `count` faces of a training dataset with the degradations of seeds `seed`, `seed + 1`, ... as a
    batch; None when the dataset cannot be reseeded. Training is not affected: it reseeds every sample itself
    (facerevive.data.sampler.SeededDataset)."""
    if not hasattr(dataset, "reseed"):
        return None
    samples = []
    for index in range(min(count, len(dataset))):
        dataset.reseed(seed + index)
        samples.append(dataset[index])
    batch: dict[str, Any] = default_collate(samples)
    return batch


class ImageGridCallback(L.Callback):
    """Every `every_n_iter` iterations (rank 0): save `restoration_<N>.png` and `pyramid_<N>.png` in `dirpath` and
    send them to W&B / TensorBoard loggers at step = iteration. The module supplies the tensors through
    `log_images(batch, max_images)` (restorations by `net_g_ema`) for the fixed faces (`fixed_faces`; a training
    set that cannot be reseeded shows the current batch). Each face is shown at `tile_size` px or its own size,
    whichever is larger."""

    def __init__(
        self, dirpath: str | Path, every_n_iter: int = 1000, max_images: int = 4, tile_size: int = 128, seed: int = 0
    ) -> None:
        super().__init__()
        self.dirpath = Path(dirpath)
        self.every_n_iter = every_n_iter
        self.max_images = max_images
        self.tile_size = tile_size
        self.seed = seed
        self.saved: list[Path] = []
        self.faces: dict[str, Any] | None = None

    def grid_faces(self, trainer: L.Trainer, batch: Any) -> Any:
        """The fixed faces (built once from the training set), or `batch` where they cannot be made."""
        if self.faces is None:
            loader: Any = trainer.train_dataloader
            dataset = getattr(loader, "dataset", None)
            self.faces = fixed_faces(getattr(dataset, "dataset", dataset), self.max_images, self.seed)
        return self.faces if self.faces is not None else batch

    @rank_zero_only
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        module: Any = pl_module  # the training module's iteration counter and `log_images`
        iteration = int(module.iteration)
        if iteration % self.every_n_iter != 0:
            return
        was_training = pl_module.training
        images = module.log_images(self.grid_faces(trainer, batch), self.max_images)
        pl_module.train(was_training)
        tile = max(self.tile_size, images["gt"].shape[-1])
        grids = {
            "restoration": restoration_grid(images["lq"], images["restored"], images["gt"], tile),
            "pyramid": pyramid_grid(images["pyramid"], tile),
        }
        self.write_grids(trainer, grids, iteration, "images")

    def write_grids(self, trainer: L.Trainer, grids: dict[str, torch.Tensor], iteration: int, prefix: str) -> None:
        """`<name>_<iteration>.png` in `dirpath` for each grid, and `<prefix>/<name>` to W&B and TensorBoard."""
        self.dirpath.mkdir(parents=True, exist_ok=True)
        for name, grid in grids.items():
            path = self.dirpath / f"{name}_{iteration:08d}.png"
            save_image(grid, path)
            self.saved.append(path)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                for name, grid in grids.items():
                    caption = [f"iter {iteration}"]
                    logger.log_image(key=f"{prefix}/{name}", images=[grid], step=iteration, caption=caption)
            elif isinstance(logger, TensorBoardLogger):
                for name, grid in grids.items():
                    logger.experiment.add_image(f"{prefix}/{name}", grid, global_step=iteration)
