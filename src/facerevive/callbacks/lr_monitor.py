"""Lightning's LearningRateMonitor on the training iteration counter (configs/callbacks/lr_monitor.yaml)."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor

from facerevive.models.base import IterationModule


class IterationLRMonitor(LearningRateMonitor):
    """LearningRateMonitor (every optimiser and parameter group; momentum and weight decay on request) logged at
    the iteration that uses the rates, the step of the module's `train/` scalars.

    Lightning's monitor reads the rates before each batch and logs them at `_batches_that_stepped`, which is
    the iteration before (one batch per iteration under manual optimisation). This one logs them at
    `iteration + 1`, the iteration about to run. The modules step their schedulers once an iteration, so the
    rates are logged every iteration the loggers are (`trainer.log_every_n_steps`).
    """

    def __init__(self, log_momentum: bool = False, log_weight_decay: bool = False) -> None:
        super().__init__(logging_interval="step", log_momentum=log_momentum, log_weight_decay=log_weight_decay)

    def on_train_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if not isinstance(trainer.lightning_module, IterationModule):
            raise TypeError(
                f"IterationLRMonitor needs an IterationModule, got {type(trainer.lightning_module).__name__}"
            )
        super().on_train_start(trainer, *args, **kwargs)

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if not trainer._logger_connector.should_update_logs:
            return
        module = trainer.lightning_module
        assert isinstance(module, IterationModule)  # checked in on_train_start
        stats = self._extract_stats(trainer, "any")
        for logger in trainer.loggers:
            logger.log_metrics(stats, step=module.iteration + 1)
