"""What every FaceRevive training module shares: the iteration counter, its own RNG stream, EMA, named
optimisers, iteration checkpoints and the official-format export.

Schedules run on `iteration` (1-based like BasicSR's `current_iter`), not on Lightning's `global_step`, which
counts every optimiser step. `IterationCheckpoint` saves on iterations and calls `export_official()`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any

import lightning as L
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import nn

from facerevive.models.ema import ema_update
from facerevive.models.nonfinite import NonFiniteGuard
from facerevive.models.rng import RNGStream, global_rng_states, set_global_rng_states
from facerevive.weights.checkpoint import safe_load

log = logging.getLogger(__name__)


class IterationModule(L.LightningModule, ABC):
    """Manual optimisation over `total_iter` iterations with a module-owned noise stream seeded by `seed`.

    Subclasses list their optimisers' names in `optimizer_names` (the order `configure_optimizers` returns
    them in, which is the order of the optimiser states in a checkpoint), name the networks that never train
    in `frozen_modules`, and write their official-format file in `export_official`. Before each optimiser step
    they ask `step_allowed` (the NaN/Inf guard `nonfinite`), after it `step_kept` (the weights' magnitude), and
    close each iteration with `end_iteration`.
    """

    def __init__(
        self, total_iter: int, ema_decay: float, seed: int | None = 0, nonfinite: NonFiniteGuard | None = None
    ) -> None:
        super().__init__()
        if total_iter < 1:
            raise ValueError(f"model.total_iter must be >= 1, got {total_iter}")
        self.automatic_optimization = False
        self.total_iter = total_iter
        self.ema_decay = ema_decay
        self.iteration = 0
        self.rng = RNGStream(seed)
        self.nonfinite = nonfinite or NonFiniteGuard()
        # The newest checkpoint this run saved (set by IterationCheckpoint, which saves none while the guard is
        # in a bad run of iterations, so it predates any such run): the rollback policy's target.
        self.last_good_checkpoint: str | None = None

    # ------------------------------------------------------------ contract
    @property
    @abstractmethod
    def optimizer_names(self) -> tuple[str, ...]:
        """Names of the optimisers, in the order `configure_optimizers` returns them."""

    @abstractmethod
    def export_official(self) -> dict[str, Any]:
        """The official-format file content of the trained network(s), written by `IterationCheckpoint`."""

    def frozen_modules(self) -> list[nn.Module]:
        """Networks that never train and stay in eval mode (none by default)."""
        return []

    def loss_networks(self) -> dict[str, nn.Module]:
        """Frozen networks that only score outputs (perceptual VGG, ArcFace), by attribute name (none by default).

        They are built from the config (their file, or the seed) at every start, so checkpoints leave them out.
        """
        return {}

    # ------------------------------------------------------------ shared pieces
    def optimizer(self, name: str) -> LightningOptimizer:
        """The optimiser called `name` (one of `optimizer_names`)."""
        if name not in self.optimizer_names:
            raise KeyError(f"no optimiser {name!r}; this module has {list(self.optimizer_names)}")
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        return optimizers[self.optimizer_names.index(name)]

    def step_schedulers(self) -> None:
        """Step every LR scheduler once (one iteration)."""
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()  # type: ignore[call-arg]  # iteration schedulers, no metric-driven ones

    def update_ema(self, ema: nn.Module, net: nn.Module) -> None:
        """ema <- ema_decay * ema + (1 - ema_decay) * net (parameters)."""
        ema_update(ema, net, self.ema_decay)

    def step_allowed(self, stage: str, losses: dict[str, torch.Tensor], params: list[tuple[str, nn.Parameter]]) -> bool:
        """Whether optimiser `stage` may step on these losses and gradients (see NonFiniteGuard.check).

        Under a mixed-precision GradScaler, Inf gradients are the scaler's business (it skips the step and
        lowers the scale), so only the losses are checked there.
        """
        plugin = self._trainer.precision_plugin if self._trainer is not None else None
        scaled = getattr(plugin, "scaler", None) is not None
        return self.nonfinite.check(stage, self.iteration, losses, params, check_grads=not scaled)

    def step_kept(self, stage: str, params: list[tuple[str, nn.Parameter]]) -> bool:
        """After optimiser `stage` stepped: whether its weights stay within `nonfinite.max_abs_weight` (see
        NonFiniteGuard.check_weights); False drops the rest of the iteration, as a refused step does."""
        return self.nonfinite.check_weights(stage, self.iteration, params)

    def end_iteration(self, g_loss: torch.Tensor | None, d_loss: torch.Tensor | None) -> None:
        """Tell the guard this iteration is over (resets the bad-iteration run, watches for explosion)."""
        g = float(g_loss.detach()) if g_loss is not None else None
        d = float(d_loss.detach()) if d_loss is not None else None
        self.nonfinite.end_iteration(self.iteration, g, d)

    def train(self, mode: bool = True) -> IterationModule:
        """Lightning switches everything to train mode; the frozen networks stay in eval (BatchNorm, Dropout)."""
        super().train(mode)
        for module in self.frozen_modules():
            module.eval()
        return self

    @property
    def training_finished(self) -> bool:
        """True once `total_iter` iterations have run (the module then stops the trainer)."""
        return self.iteration >= self.total_iter

    # Logging a metric called `step` makes Lightning hand that batch's (or validation's) metrics to every logger
    # at step = iteration: the x-axis of W&B, TensorBoard and CSV, and the step of the image grids.
    def on_validation_epoch_end(self) -> None:
        self.log("step", float(self.iteration), on_epoch=True, batch_size=1, sync_dist=True)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.log("step", float(self.iteration), on_step=True, on_epoch=False, batch_size=1)
        if self.nonfinite.rollback_pending:
            self.roll_back()
        if self.training_finished:
            self.trainer.should_stop = True

    def roll_back(self) -> None:
        """Return the networks (EMA and buffers included), optimisers, schedulers and the iteration counter to
        the last checkpoint this run saved, with every learning rate times `nonfinite.rollback_lr_factor`.

        The data and noise streams go on, so the retried iterations see new batches (the ones that led to the
        fault are not replayed). Without a checkpoint yet, the bad iteration stays skipped.
        """
        guard = self.nonfinite
        path = self.last_good_checkpoint
        if path is None:
            guard.rollback_pending = False
            log.warning("iteration %d: no checkpoint saved yet in this run to roll back to", self.iteration)
            return
        checkpoint = safe_load(path)
        self.add_loss_networks(checkpoint["state_dict"])
        self.load_state_dict(checkpoint["state_dict"])
        trainer = self.trainer
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
        bad_iteration, self.iteration = self.iteration, int(checkpoint["iteration"])
        guard.rolled_back()
        log.warning(
            "iteration %d: rolled back to %s (iteration %d) with the learning rates times %g (rollback %d of %d)",
            bad_iteration,
            path,
            self.iteration,
            factor,
            guard.rollbacks,
            guard.max_rollbacks,
        )

    # ------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["iteration"] = self.iteration
        checkpoint["module_rng"] = self.rng.state_dict()
        # FaceRevive's training data does not use the global streams (see facerevive.data.sampler), but other
        # datasets, samplers and user code may: they are restored too.
        checkpoint["global_rng"] = global_rng_states()
        prefixes = tuple(f"{name}." for name in self.loss_networks())
        state = checkpoint["state_dict"]
        for key in [key for key in state if prefixes and key.startswith(prefixes)]:
            del state[key]

    def add_loss_networks(self, state: dict[str, Any]) -> None:
        """Put into `state` (a checkpoint's state_dict) the loss networks' weights it lacks, from this module.

        Checkpoints leave them out; older ones that carry them load as they are.
        """
        for name, net in self.loss_networks().items():
            for key, value in net.state_dict().items():
                state.setdefault(f"{name}.{key}", value)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "iteration" not in checkpoint:
            raise KeyError(f"checkpoint has no 'iteration': it was not written by {type(self).__name__}")
        self.add_loss_networks(checkpoint["state_dict"])
        self.iteration = int(checkpoint["iteration"])
        if "module_rng" in checkpoint:
            self.rng.load_state_dict(checkpoint["module_rng"])
        if "global_rng" in checkpoint:
            set_global_rng_states(checkpoint["global_rng"])
