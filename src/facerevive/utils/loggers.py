"""Lightning's WandbLogger as FaceRevive's configs use it (configs/logger/wandb.yaml): plotted against the GFPGAN
iteration, without the deprecated `anonymous=None`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightning.fabric.utilities.logger import _add_prefix
from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities.rank_zero import rank_zero_only

# The W&B x-axis: every step FaceRevive hands a logger is an iteration (IterationModule logs a `step` metric,
# the image and FID callbacks pass `step=iteration`), so the axis is named for it.
ITERATION_AXIS = "iteration"


class WandbLogger(LightningWandbLogger):
    """Lightning's WandbLogger, with each step logged as `iteration` (not `trainer/global_step`) and
    `iteration` the x-axis of every metric, images included (`log_image` goes through `log_metrics`).

    Also leaves out the `anonymous=None` Lightning always hands to `wandb.init` (W&B deprecated the setting and
    warns whenever it is passed); `anonymous=True` is still passed on. With `sync_tensorboard=True` W&B plots
    TensorBoard's own `global_step` and Lightning's behaviour is kept.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Lightning keeps its wandb.init arguments here until the run starts (first use of `experiment`).
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The W&B run (started on first use), with `iteration` as the step metric of every other metric."""
        starting = self._experiment is None
        run = super().experiment
        if starting and not self._wandb_init.get("sync_tensorboard"):
            # Lightning has just defined `*` against `trainer/global_step`; a later definition of the same glob
            # replaces the fields it sets, so every metric is plotted against the iteration.
            run.define_metric(ITERATION_AXIS)
            run.define_metric("*", step_metric=ITERATION_AXIS, step_sync=True)
        return run

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """`metrics` (prefixed) in one W&B row, with `iteration: step` when a step is given."""
        if step is None or self._wandb_init.get("sync_tensorboard"):
            super().log_metrics(metrics, step)
            return
        prefixed = _add_prefix(metrics, self._prefix, self.LOGGER_JOIN_CHAR)
        self.experiment.log({**prefixed, ITERATION_AXIS: step})
