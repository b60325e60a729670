"""The `rollback` policy of the NaN/Inf guard (`model.nonfinite.policy=rollback`), carried out between iterations."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from facerevive.callbacks.checkpoint import IterationCheckpoint, iteration_module
from facerevive.models.base import IterationModule
from facerevive.weights.checkpoint import safe_load

log = logging.getLogger(__name__)


def newest_checkpoint(trainer: L.Trainer) -> str | None:
    """The newest checkpoint this run's IterationCheckpoint saved (None before the first, or without one).

    IterationCheckpoint saves none while the guard is in a bad run of iterations, so it predates any such run.
    """
    paths = [cb.newest_checkpoint for cb in trainer.checkpoint_callbacks if isinstance(cb, IterationCheckpoint)]
    return next((path for path in paths if path is not None), None)


class NonFiniteRollback(Callback):
    """When the guard asks for a rollback (its policy is `rollback` and an iteration went bad), return the
    networks (EMA and buffers included), optimisers, schedulers and the iteration counter to the newest
    checkpoint of this run, with every learning rate times `nonfinite.rollback_lr_factor`.

    The data and noise streams go on, so the retried iterations see new batches (the ones that led to the
    fault are not replayed). Without a checkpoint yet, the bad iteration stays skipped. train.py adds this
    callback to every run; it does nothing under the other policies. It runs after the other callbacks' end of
    the bad iteration and before the checkpoint callbacks' (Lightning runs those last).
    """

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        module = iteration_module(pl_module)
        if module.nonfinite.rollback_pending:
            self.roll_back(trainer, module)

    @staticmethod
    def roll_back(trainer: L.Trainer, module: IterationModule) -> None:
        """Return `module` and `trainer`'s optimisers and schedulers to the newest checkpoint (see the class)."""
        guard = module.nonfinite
        path = newest_checkpoint(trainer)
        if path is None:
            guard.rollback_pending = False
            log.warning("iteration %d: no checkpoint saved yet in this run to roll back to", module.iteration)
            return
        checkpoint = safe_load(path)
        module.add_loss_networks(checkpoint["state_dict"])
        module.load_state_dict(checkpoint["state_dict"])
        for optimizer, state in zip(trainer.optimizers, checkpoint["optimizer_states"], strict=True):
            optimizer.load_state_dict(state)
        for config, state in zip(trainer.lr_scheduler_configs, checkpoint.get("lr_schedulers", []), strict=True):
            config.scheduler.load_state_dict(state)
        factor = guard.rollback_lr_factor
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] *= factor
        for config in trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            scheduler.base_lrs = [lr * factor for lr in scheduler.base_lrs]
        bad_iteration, module.iteration = module.iteration, int(checkpoint["iteration"])
        guard.rolled_back()
        log.warning(
            "iteration %d: rolled back to %s (iteration %d) with the learning rates times %g (rollback %d of %d)",
            bad_iteration,
            path,
            module.iteration,
            factor,
            guard.rollbacks,
            guard.max_rollbacks,
        )
