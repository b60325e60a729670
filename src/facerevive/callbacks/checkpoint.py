"""Checkpoints every N iterations (not Lightning steps), `last.ckpt`, and official-format generator exports."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from facerevive.callbacks.checkpoint_io import AtomicCheckpointIO
from facerevive.models.base import IterationModule
from facerevive.utils.files import atomic_path, atomic_torch_save, ensure_writable_dir
from facerevive.weights.finite import check_finite_state

log = logging.getLogger(__name__)

# A checkpoint holds every weight about 3 times (weights, Adam's two moments); the export twice (net_g, EMA).
CHECKPOINT_SIZE_FACTOR = 5


def _replace_with_copy(source: Path, target: Path) -> None:
    """Make `target` a hard link to (or, where links fail, a copy of) `source`, atomically."""
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


def iteration_module(pl_module: L.LightningModule) -> IterationModule:
    """`pl_module` as an IterationModule (the iteration counter and export this callback works on)."""
    if not isinstance(pl_module, IterationModule):
        raise TypeError(f"IterationCheckpoint needs an IterationModule, got {type(pl_module).__name__}")
    return pl_module


class StorageError(OSError):
    """A checkpoint folder that cannot take the run's checkpoints (not writable, or too little free space)."""


def remove_stray_temp_files(folder: Path) -> list[Path]:
    """Remove the `.<name>.*.tmp` files that atomic writes killed mid-way left in `folder`; returns them."""
    strays = sorted(folder.glob(".*.tmp")) if folder.is_dir() else []
    for stray in strays:
        stray.unlink(missing_ok=True)
    return strays


def check_storage(dirpath: Path, needed_bytes: int) -> None:
    """`dirpath` can be created and written, and its file system has `needed_bytes` free; else StorageError."""
    try:
        ensure_writable_dir(dirpath)
    except OSError as exc:
        raise StorageError(f"checkpoint folder {dirpath} is not writable: {exc}") from exc
    free = shutil.disk_usage(dirpath).free
    if free < needed_bytes:
        raise StorageError(
            f"checkpoint folder {dirpath}: {free / 2**20:.0f} MiB free, one checkpoint and export need about "
            f"{needed_bytes / 2**20:.0f} MiB"
        )


class IterationCheckpoint(Checkpoint):
    """Every `every_n_iter` GFPGAN iterations and after the last one, write into `dirpath`:

    - `iter_<N>.ckpt`: the full Lightning checkpoint (all networks, optimisers, schedulers, EMA, iteration,
      the module's RNG stream) and `last.ckpt` pointing at the newest one;
    - `net_g_<N>.pth` and `net_g_latest.pth` (with `export`): `{'params', 'params_ema', 'net_g_config'}`,
      the official GFPGAN layout that `GFPGANer` and `facerevive.weights.build_generator` load.
    Every file is written to a temporary name in `dirpath` first and then renamed (the trainer's checkpoint
    writer is made an AtomicCheckpointIO), so a crash never leaves a partial file; temporary files that a killed
    process left are removed at the next start. At start `dirpath` must be writable with room for one more
    checkpoint and export (estimated from the module's size), else a StorageError names it.
    A resumed run writes into its own run directory.
    `keep_last_n` (None: keep all) keeps the newest N iteration files of each kind (last.ckpt and
    net_g_latest.pth always stay).

    Saves happen at the end of a batch, also for the final iteration (`pl_module.training_finished`), so that
    `ckpt_path=last` continues with the next batch of the same epoch. A run stopped any other way is saved in
    `on_train_end`; Lightning counts its interrupted epoch as finished, so resuming that one starts a new epoch.
    """

    def __init__(
        self, dirpath: str | Path, every_n_iter: int = 5000, export: bool = True, keep_last_n: int | None = None
    ) -> None:
        super().__init__()
        if every_n_iter < 1:
            raise ValueError(f"every_n_iter must be >= 1, got {every_n_iter}")
        self.dirpath = Path(dirpath)
        if keep_last_n is not None and keep_last_n < 1:
            raise ValueError(f"keep_last_n must be >= 1 or null (keep all), got {keep_last_n}")
        self.every_n_iter = every_n_iter
        self.export = export
        self.keep_last_n = keep_last_n
        self.last_model_path = ""
        self.last_export_path = ""
        self.saved_at: int | None = None
        # The newest iteration checkpoint this run wrote: NonFiniteRollback's target.
        self.newest_checkpoint: str | None = None
        # A save fell inside a run of bad iterations: it is made at the next good iteration.
        self.deferred = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        if trainer.is_global_zero:
            module_bytes = sum(t.numel() * t.element_size() for t in [*pl_module.parameters(), *pl_module.buffers()])
            check_storage(self.dirpath, CHECKPOINT_SIZE_FACTOR * module_bytes)
            for stray in remove_stray_temp_files(self.dirpath):
                log.warning("removed %s (a checkpoint write that did not finish)", stray)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        module = iteration_module(pl_module)
        if module.iteration == self.saved_at:  # NonFiniteRollback just returned to this checkpoint
            return
        due = module.iteration % self.every_n_iter == 0 or module.training_finished
        if due or (self.deferred and not module.nonfinite.in_bad_streak):
            self.save(trainer, module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        module = iteration_module(pl_module)
        if self.saved_at != module.iteration and module.iteration > 0:
            self.save(trainer, module)

    def save(self, trainer: L.Trainer, pl_module: L.LightningModule) -> bool:
        """Write the iteration checkpoint (every rank takes part, rank 0 writes), last.ckpt and the exports;
        returns whether it did.

        Inside a run of bad iterations (the NaN/Inf and weight-magnitude guard `nonfinite` counts one) nothing is
        written: the network may be exploded though finite, and every checkpoint is a rollback target. The save
        is deferred to the next good iteration; until then last.ckpt and the export stay the last good ones.
        """
        module = iteration_module(pl_module)
        iteration = module.iteration
        guard = module.nonfinite
        if guard.in_bad_streak:
            self.deferred = True
            log.warning(
                "iteration %d: not saved, it ends a run of %d bad iterations (%s stays the newest checkpoint); "
                "saving at the next good iteration",
                iteration,
                guard.consecutive,
                self.newest_checkpoint or "no checkpoint yet",
            )
            return False
        self.deferred = False
        # Never a non-finite network as last.ckpt or export: the last good files stay in place.
        check_finite_state(module.state_dict(), source=f"iteration {iteration}: not saved, the network")
        self.saved_at = iteration
        path = self.dirpath / f"iter_{iteration:08d}.ckpt"
        # Collective; rank 0 writes it through AtomicCheckpointIO. The full state (optimisers, loops) for resume.
        trainer.save_checkpoint(path, weights_only=False)
        self.newest_checkpoint = str(path)
        if trainer.is_global_zero:
            _replace_with_copy(path, self.dirpath / "last.ckpt")
            self.last_model_path = str(self.dirpath / "last.ckpt")
            if self.export:
                export = atomic_torch_save(module.export_official(), self.dirpath / f"net_g_{iteration:08d}.pth")
                _replace_with_copy(export, self.dirpath / "net_g_latest.pth")
                self.last_export_path = str(self.dirpath / "net_g_latest.pth")
            self._prune()
            log.info("iteration %d: saved %s", iteration, path)
        trainer.strategy.barrier("IterationCheckpoint.save")
        return True

    def _prune(self) -> None:
        if self.keep_last_n is None:
            return
        for pattern in ("iter_*.ckpt", "net_g_[0-9]*.pth"):
            for old in sorted(self.dirpath.glob(pattern))[: -self.keep_last_n]:
                old.unlink()

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        # The W&B run this checkpoint belongs to: `ckpt_path=...` continues logging into it (see cli/train.py).
        runs = [logger.version for logger in trainer.loggers if isinstance(logger, WandbLogger)]
        checkpoint["wandb_run_id"] = runs[0] if runs else None
