"""The training skeleton every FaceRevive GAN module shares: the iteration, its own RNG stream, net_g with its
EMA copy and net_d, named optimisers, the NaN-guarded optimiser step, lazy R1, the speed switches, iteration
checkpoints and the official-format export.

Schedules run on `iteration` (1-based like BasicSR's `current_iter`), not on Lightning's `global_step`, which
counts every optimiser step. `IterationCheckpoint` saves on iterations and calls `export_official()`.
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import lightning as L
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import nn

from facerevive.losses import r1_penalty
from facerevive.models.ema import OFFICIAL_EMA_DECAY, ema_update
from facerevive.models.export import generator_config
from facerevive.models.nonfinite import NonFiniteGuard
from facerevive.models.rng import RNGStream, global_rng_states, set_global_rng_states
from facerevive.models.speed import CompiledOrEager, SpeedSwitches, set_tf32, to_channels_last

# Optimiser factories take parameters or parameter groups (dicts), as torch optimisers do.
OptimizerFactory = Callable[[Iterable[Any]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]


class IterationModule(L.LightningModule, ABC):
    """A generator `net_g` (with its EMA copy `net_g_ema`) and a discriminator `net_d`, trained by manual
    optimisation over `total_iter` iterations with a module-owned noise stream seeded by `seed`.

    A new model (a CodeFormer trainer, say) writes only its losses and its step order: `train_iteration` (one
    iteration on a batch, returning its loss terms), stepping each optimiser through `guarded_step` and closing
    with `update_ema` and `end_iteration`; `lazy_r1` is there for its D step. This class runs the iteration
    (`training_step`: counter, RNG stream, schedulers, logging), builds the optimisers g and d (a subclass adds
    more in `extra_optimizers` and their names in `optimizer_names`), applies the speed switches, checkpoints
    and exports. A subclass names the networks that never train in `frozen_modules` and the loss-only networks
    in `loss_networks`.

    Optimisers and the scheduler are factories (`_partial_` configs) taking parameters, or an optimiser; a
    parameter group may carry an 'lr_scale' factor on the optimiser's lr. `net_d_reg_every` is the lazy-R1
    interval. `channels_last`, `tf32`, `compile` and `flush_denormal` are the speed switches (see
    facerevive.models.speed): `compile` runs net_g and net_d through torch.compile where a subclass calls them
    through `train_pass` (regularisers' double backwards stay eager). `nonfinite` is the NaN/Inf guard; its
    `rollback` policy is carried out by facerevive.callbacks.NonFiniteRollback.
    """

    def __init__(
        self,
        net_g: nn.Module,
        net_d: nn.Module,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        net_d_reg_every: int = 16,
        ema_decay: float = OFFICIAL_EMA_DECAY,
        total_iter: int = 800000,
        seed: int | None = 0,
        nonfinite: NonFiniteGuard | None = None,
        channels_last: bool = False,
        tf32: bool | None = None,
        compile: bool = False,
        flush_denormal: bool = False,
    ) -> None:
        super().__init__()
        if total_iter < 1:
            raise ValueError(f"model.total_iter must be >= 1, got {total_iter}")
        if net_d_reg_every < 1:
            raise ValueError(f"model.net_d_reg_every={net_d_reg_every}: must be an integer >= 1")
        self.automatic_optimization = False
        self.total_iter = total_iter
        self.ema_decay = ema_decay
        self.iteration = 0
        self.rng = RNGStream(seed)
        self.nonfinite = nonfinite or NonFiniteGuard()
        self.net_g_config = generator_config(net_g)
        self.net_g = net_g
        self.net_g_ema = copy.deepcopy(net_g).requires_grad_(False).eval()
        self.net_d = net_d
        self.optimizer_g = optimizer_g
        self.optimizer_d = optimizer_d
        self.scheduler_factory = scheduler
        self.net_d_reg_every = net_d_reg_every
        self.speed = SpeedSwitches(channels_last, tf32, compile, flush_denormal)
        self._compiled: dict[str, CompiledOrEager] = {}
        self.last_losses: dict[str, float] = {}

    # ------------------------------------------------------------ what a model writes
    @abstractmethod
    def train_iteration(self, batch: Mapping[str, Any], iteration: int) -> dict[str, torch.Tensor]:
        """One full iteration on `batch`: every loss term (detached) by name.

        Each optimiser steps through `guarded_step`; when one returns False the rest of the iteration is dropped
        (return the losses so far). A complete iteration ends with `end_iteration`.
        """

    @property
    def optimizer_names(self) -> tuple[str, ...]:
        """Names of the optimisers, in the order `configure_optimizers` returns them (the checkpoint order)."""
        return ("g", "d")

    def extra_optimizers(self) -> list[torch.optim.Optimizer]:
        """Optimisers after g and d (named in `optimizer_names`); none by default."""
        return []

    def generator_parameters(self) -> Iterable[Any]:
        """What optimizer_g trains: net_g's trainable parameters (a frozen decoder takes no optimiser state)."""
        return [p for p in self.net_g.parameters() if p.requires_grad]

    def frozen_modules(self) -> list[nn.Module]:
        """Networks that never train and stay in eval mode: the EMA copy (a subclass adds its own)."""
        return [self.net_g_ema]

    def loss_networks(self) -> dict[str, nn.Module]:
        """Frozen networks that only score outputs (perceptual VGG, ArcFace), by attribute name (none by default).

        They are built from the config (their file, or the seed) at every start, so checkpoints leave them out.
        """
        return {}

    def logged_rates(self) -> dict[str, float]:
        """The learning rates logged each iteration (the rates it trained at), by log key."""
        return {"lr/g": self._lr("g"), "lr/d": self._lr("d")}

    def logged_progress(self) -> dict[str, float]:
        """Further per-iteration values to log beside the losses (none by default)."""
        return {}

    # ------------------------------------------------------------ the iteration
    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        self.iteration += 1
        start = time.perf_counter()
        with self.rng.active(self.device, self.global_rank):
            losses = self.train_iteration(batch, self.iteration)
        # The rates this iteration trained at (as BasicSR logs them), read before the schedulers move on.
        progress = self.logged_rates()
        self.step_schedulers()
        batch_size = batch["gt"].shape[0]
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, on_step=True, batch_size=batch_size)
        progress |= self.logged_progress()
        progress |= {"train/iteration": float(self.iteration), "train/nonfinite_skipped": float(self.nonfinite.skipped)}
        self.log_dict(progress, on_step=True, batch_size=batch_size)
        self.log("train/iter_time", time.perf_counter() - start, on_step=True, batch_size=batch_size, prog_bar=True)
        self.last_losses = {k: float(v) for k, v in losses.items()}

    def _lr(self, name: str) -> float:
        """Optimiser `name`'s learning rate (the base one where its first group carries an 'lr_scale')."""
        group = self.optimizer(name).param_groups[0]
        return float(group["lr"] / group.get("lr_scale", 1.0))

    def configure_optimizers(self) -> Any:
        optimizer_g = self.optimizer_g(self.generator_parameters())
        for group in optimizer_g.param_groups:
            group["lr"] *= group.get("lr_scale", 1.0)
        optimizers = [optimizer_g, self.optimizer_d(self.net_d.parameters()), *self.extra_optimizers()]
        if self.scheduler_factory is None:
            return optimizers
        return optimizers, [self.scheduler_factory(opt) for opt in optimizers]

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

    def guarded_step(
        self,
        stage: str,
        optimizers: Any | Sequence[Any],
        losses: Mapping[str, torch.Tensor],
        params: list[tuple[str, nn.Parameter]],
    ) -> bool:
        """Step `optimizers` (one, or several sharing the stage) unless the NaN/Inf guard refuses `losses` or the
        gradients of `params`; returns whether they stepped and the weights stay within
        `model.nonfinite.max_abs_weight` (False: drop the rest of the iteration, no further step, no EMA update).

        Under a mixed-precision GradScaler, Inf gradients are the scaler's business (it skips the step and
        lowers the scale), so only the losses are checked there.
        """
        plugin = self._trainer.precision_plugin if self._trainer is not None else None
        scaled = getattr(plugin, "scaler", None) is not None
        if not self.nonfinite.check(stage, self.iteration, losses, params, check_grads=not scaled):
            return False
        for optimizer in optimizers if isinstance(optimizers, Sequence) else [optimizers]:
            optimizer.step()
        return self.nonfinite.check_weights(stage, self.iteration, params)

    def update_ema(self, ema: nn.Module, net: nn.Module) -> None:
        """ema <- ema_decay * ema + (1 - ema_decay) * net (parameters)."""
        ema_update(ema, net, self.ema_decay)

    def end_iteration(self, g_loss: torch.Tensor | None, d_loss: torch.Tensor | None) -> None:
        """Tell the guard this iteration is over (resets the bad-iteration run, watches for explosion)."""
        g = float(g_loss.detach()) if g_loss is not None else None
        d = float(d_loss.detach()) if d_loss is not None else None
        self.nonfinite.end_iteration(self.iteration, g, d)

    @contextmanager
    def fp32(self) -> Iterator[None]:
        """Autocast off: gradient penalties (R1, path length) are computed in full precision."""
        with torch.autocast(device_type=self.device.type, enabled=False):
            yield

    def lazy_r1(self, real: torch.Tensor, weight: float) -> torch.Tensor:
        """StyleGAN2's lazy R1 on net_d at the real images, for a D step every `net_d_reg_every` iterations:
        weight / 2 * penalty * net_d_reg_every, in fp32, backward taken; returns the term (detached mean) to log.

        The zero term keeps D's output in the graph (DDP unused-parameter safety, as BasicSR and GFPGAN).
        """
        with self.fp32():
            real_r1 = real.detach().float().requires_grad_(True)
            pred: torch.Tensor = self.net_d(real_r1)
            l_r1 = weight / 2 * r1_penalty(pred, real_r1) * self.net_d_reg_every + 0 * pred[0]
        self.manual_backward(l_r1.sum())
        return l_r1.detach().mean()

    # ------------------------------------------------------------ speed switches
    def train_pass(self, name: str) -> Callable[..., Any]:
        """Network `name` (net_g, net_d) as the G and D steps call it: compiled under `compile`, else itself."""
        return self._compiled.get(name) or getattr(self, name)

    def memory_format(self, x: torch.Tensor) -> torch.Tensor:
        """A batch tensor in the networks' layout (channels-last under `channels_last`)."""
        return x.contiguous(memory_format=torch.channels_last) if self.speed.channels_last else x

    def setup(self, stage: str) -> None:
        """Weights channels-last (before the optimisers and the device move, which keep the layout)."""
        if self.speed.channels_last:
            to_channels_last(self)

    def on_fit_start(self) -> None:
        """The switches that act on the process or the networks: TF32, the CPU denormal flush, torch.compile."""
        set_tf32(self.speed.tf32)
        if self.speed.flush_denormal and self.device.type == "cpu":
            torch.set_flush_denormal(True)
        if self.speed.compile and not self._compiled:
            self._compiled = {name: CompiledOrEager(name, getattr(self, name)) for name in ("net_g", "net_d")}

    def teardown(self, stage: str) -> None:
        if self.speed.flush_denormal and self.device.type == "cpu":
            torch.set_flush_denormal(False)

    # ------------------------------------------------------------ Lightning plumbing
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
            # Callbacks run before this hook: NonFiniteRollback would have cleared the request.
            raise RuntimeError(
                "model.nonfinite.policy=rollback needs the facerevive.callbacks.NonFiniteRollback callback in the "
                "trainer (train.py adds it); none rolled back"
            )
        if self.training_finished:
            self.trainer.should_stop = True

    # ------------------------------------------------------------ checkpoints and export
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["iteration"] = self.iteration
        checkpoint["module_rng"] = self.rng.state_dict()
        # FaceRevive's training data does not use the global streams (see facerevive.data.sampler), but other
        # datasets, samplers and user code may: they are restored too.
        checkpoint["global_rng"] = global_rng_states()
        checkpoint["net_g_config"] = copy.deepcopy(self.net_g_config)
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

    def export_official(self) -> dict[str, Any]:
        """{'params', 'params_ema', 'net_g_config', 'iteration'}: the official layout (GFPGAN's model files,
        BasicSR's net_g_<iter>.pth) plus our config, written by `IterationCheckpoint`."""
        return {
            "params": {k: v.detach().cpu().clone() for k, v in self.net_g.state_dict().items()},
            "params_ema": {k: v.detach().cpu().clone() for k, v in self.net_g_ema.state_dict().items()},
            "net_g_config": copy.deepcopy(self.net_g_config),
            "iteration": self.iteration,
        }
