"""Image grids (LQ | restored | GT, and the U-Net pyramid) every N iterations: PNG files and logger images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from torch.nn import functional as F
from torchvision.utils import make_grid, save_image


def restoration_grid(lq: torch.Tensor, restored: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """One row per face: LQ | restored | GT, as a (3,H,W) image in [0,1] from [-1,1] inputs."""
    rows = torch.stack([lq, restored, gt], dim=1).flatten(0, 1)
    grid: torch.Tensor = make_grid(((rows.float().cpu() + 1) / 2).clamp(0, 1), nrow=3, padding=2)
    return grid


def pyramid_grid(pyramid: list[torch.Tensor], size: int) -> torch.Tensor:
    """One row per face: the U-Net RGB outputs from 8 px up, each enlarged (nearest) to `size`."""
    levels = [F.interpolate(p.float().cpu(), size=(size, size), mode="nearest") for p in pyramid]
    rows = torch.stack(levels, dim=1).flatten(0, 1)
    grid: torch.Tensor = make_grid(((rows + 1) / 2).clamp(0, 1), nrow=len(levels), padding=2)
    return grid


class ImageGridCallback(L.Callback):
    """Every `every_n_iter` iterations (rank 0): save `images/iter_<N>.png` and `images/pyramid_<N>.png` in
    `dirpath` and send them to W&B / TensorBoard loggers at step = iteration. The module supplies the tensors
    through `log_images(batch, max_images)` (restorations by `net_g_ema`)."""

    def __init__(self, dirpath: str | Path, every_n_iter: int = 1000, max_images: int = 4) -> None:
        super().__init__()
        self.dirpath = Path(dirpath)
        self.every_n_iter = every_n_iter
        self.max_images = max_images
        self.saved: list[Path] = []

    @rank_zero_only
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        module: Any = pl_module  # the training module's iteration counter and `log_images`
        iteration = int(module.iteration)
        if iteration % self.every_n_iter != 0:
            return
        was_training = pl_module.training
        images = module.log_images(batch, self.max_images)
        pl_module.train(was_training)
        grids = {
            "restoration": restoration_grid(images["lq"], images["restored"], images["gt"]),
            "pyramid": pyramid_grid(images["pyramid"], images["gt"].shape[-1] // 2),
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
