"""Callbacks that record what a training run did, for tests that run `facerevive.cli.train.run` with configs."""

from __future__ import annotations

from typing import Any

import lightning as L


class BatchRecorder(L.Callback):
    """After every training batch: the module's loss terms and the batch's GT paths (when the batch has them)."""

    def __init__(self) -> None:
        self.losses: list[dict[str, float]] = []
        self.gt_paths: list[list[str]] = []

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.losses.append(dict(pl_module.last_losses))
        if "gt_path" in batch:
            self.gt_paths.append(list(batch["gt_path"]))


def recorder_of(trainer: L.Trainer) -> BatchRecorder:
    """The BatchRecorder among `trainer`'s callbacks (added with `+callbacks.recorder._target_=...`)."""
    return next(callback for callback in trainer.callbacks if isinstance(callback, BatchRecorder))


RECORDER_OVERRIDE = "+callbacks.recorder._target_=helpers.recorders.BatchRecorder"
