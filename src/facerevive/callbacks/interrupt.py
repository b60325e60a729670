"""Stop on SIGTERM, SIGINT, SIGUSR1 or SIGUSR2 (SLURM preemption, `scancel`, Ctrl-C, `--signal`): save a checkpoint
at the iteration reached, then leave with status 128 + the signal number (143 TERM, 130 INT, 138 USR1, 140 USR2)."""

from __future__ import annotations

import logging
import signal
from collections.abc import Sequence
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from facerevive.callbacks.checkpoint import IterationCheckpoint, iteration_module

log = logging.getLogger(__name__)

DEFAULT_SIGNALS = ("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2")


class TrainingInterrupted(SystemExit):
    """A run stopped by a signal after saving; its exit status is 128 + the signal number."""

    def __init__(self, signum: int, iteration: int, checkpoint: str) -> None:
        super().__init__(128 + signum)
        self.signum = signum
        self.iteration = iteration
        self.checkpoint = checkpoint


class StopOnSignal(Callback):
    """Catch `signals` during training; at the end of the running iteration save through the run's
    IterationCheckpoint (no iteration is lost), stop the trainer, and hand the signal on to the handler that was
    installed before (submitit's requeue on SLURM, Lightning's notifier). A second signal stops at once
    (KeyboardInterrupt). With several processes, one process receiving the signal is enough: the decision is
    shared at every iteration so that all ranks save together."""

    def __init__(self, signals: Sequence[str] = DEFAULT_SIGNALS) -> None:
        super().__init__()
        unknown = [name for name in signals if not hasattr(signal, name)]
        if unknown:
            raise ValueError(f"callbacks.stop_on_signal.signals: unknown signal names {unknown}")
        self.signals = [signal.Signals[name] for name in signals]
        self.received: int | None = None
        self.saved_iteration: int | None = None
        self.saved_path = ""
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            raise KeyboardInterrupt(f"second signal {signal.Signals(signum).name}: stopping without saving")
        self.received = signum
        log.warning("received %s: saving at the end of this iteration, then stopping", signal.Signals(signum).name)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.received = None
        self.saved_iteration = None
        for signum in self.signals:
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread (e.g. a notebook worker): signals stay as they are
                return

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        stop = trainer.strategy.reduce_boolean_decision(self.received is not None, all=False)
        if not stop or self.saved_iteration is not None:
            return
        module = iteration_module(pl_module)
        checkpoints = [cb for cb in trainer.callbacks if isinstance(cb, IterationCheckpoint)]  # type: ignore[attr-defined]
        for checkpoint in checkpoints:
            if checkpoint.saved_at != module.iteration:
                checkpoint.save(trainer, module)
            self.saved_path = checkpoint.last_model_path
        self.saved_iteration = module.iteration
        trainer.should_stop = True
        name = signal.Signals(self.received).name if self.received is not None else "a signal on another rank"
        if not checkpoints:
            log.warning("stopping on %s at iteration %d: no IterationCheckpoint, nothing saved", name, module.iteration)
        else:
            log.warning("stopping on %s at iteration %d: saved %s", name, module.iteration, self.saved_path)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()
        previous = self._previous.get(self.received) if self.received is not None else None
        if callable(previous) and previous is not signal.default_int_handler:
            previous(self.received, None)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def interruption(self) -> TrainingInterrupted | None:
        """The exit to raise after `fit` returns, or None when no signal stopped the run."""
        if self.received is None or self.saved_iteration is None:
            return None
        return TrainingInterrupted(self.received, self.saved_iteration, self.saved_path)
