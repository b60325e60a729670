"""Unconditional StyleGAN2 training (the GFPGAN facial prior) as a LightningModule.

One `training_step` is one iteration of BasicSR's `StyleGAN2Model.optimize_parameters`: the D step (logistic
loss, plus lazy R1 every `net_d_reg_every` iterations), then the G step (non-saturating loss, plus path-length
regularisation every `net_g_reg_every` iterations), then the EMA update. Either generator flavour trains:
`StyleGAN2Generator` (equalized learning rate, the GFPGANv1 prior) or `StyleGAN2GeneratorClean` (the decoder
of v1.2-v1.4); the export's `params_ema` is what `model.init.decoder` of GFPGANv1 / GFPGANv1Clean loads.

Where BasicSR departs from the official StyleGAN2 code, BasicSR is the default and the official behaviour an
option (configs/model/stylegan2.yaml comments each one): `step_order='g_first'`, `separate_reg_steps=True`,
the optimisers' `scale_lr`, no LR schedule, a batch-dependent EMA decay, and for the clean generator
`equalized_lr=True`.

Every random draw of an iteration (latent codes, the style-mixing coin and crossover layer, noise maps, the
path-length projection) comes from the module's RNG stream, and the path-length running mean is a buffer, so a
resumed run continues exactly (BasicSR and rosinality restart that mean at 0).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from facerevive.archs.gfpgan_clean_arch import ModulatedConv2dClean, StyleGAN2GeneratorClean
from facerevive.losses import GANLoss, path_length_penalty, r1_penalty
from facerevive.models.base import IterationModule
from facerevive.models.export import generator_config
from facerevive.models.gfpgan_module import OFFICIAL_EMA_DECAY
from facerevive.models.nonfinite import NonFiniteGuard

# Optimiser factories take parameters or parameter groups (dicts), as torch optimisers do.
OptimizerFactory = Callable[[Iterable[Any]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]
STEP_ORDERS = ("d_first", "g_first")

# One iteration's step: (real images, iteration, the loss dict it fills) -> whether its optimiser stepped.
Step = Callable[[torch.Tensor, int, dict[str, torch.Tensor]], bool]


def equalized_lr_scales(net: nn.Module, lr_mlp: float = 0.01) -> dict[str, float]:
    """Per-parameter learning-rate factors under which Adam trains a generator of plain layers
    (StyleGAN2GeneratorClean) as it trains the equalized-lr StyleGAN2.

    An equalized weight is stored at unit variance and multiplied by c at run time, so an Adam step of lr moves
    the effective weight by about c * lr (Adam's step does not depend on the gradient's scale); a plain weight
    moves by lr. Giving the plain weight lr * c makes the two the same: c = lr_mlp / sqrt(fan_in) for the mapping
    network's weights (lr_mlp for its biases), 1 / sqrt(fan_in) for the modulated convolutions and the style
    modulations, 1 for everything else (biases, noise strengths, the constant input).
    """
    scales = {name: 1.0 for name, _ in net.named_parameters()}
    for prefix, module in net.named_modules():
        if isinstance(module, nn.Linear):
            gain = lr_mlp if prefix.startswith("style_mlp.") else 1.0
            scales[f"{prefix}.weight"] = gain / math.sqrt(module.in_features)
            if module.bias is not None:
                scales[f"{prefix}.bias"] = gain
        elif isinstance(module, ModulatedConv2dClean):
            scales[f"{prefix}.weight"] = 1 / math.sqrt(module.in_channels * module.kernel_size**2)
    return scales


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise ValueError(f"model.{name}={value}: must be an integer >= 1")
    return value


class StyleGAN2Module(IterationModule):
    """StyleGAN2 generator, its EMA copy and the StyleGAN2 discriminator; optimisers named g and d.

    Loss names follow BasicSR's log: l_d, real_score, fake_score, l_d_r1, l_g, l_g_path, path_length. A weight of
    0 (`r1_weight`, `path_weight`) switches that regulariser off. `step_order` 'd_first' is BasicSR's order,
    'g_first' the official one; `separate_reg_steps` applies R1 / path length in an optimiser step of their own
    (official) instead of adding their gradients to the main step's (BasicSR). `equalized_lr` gives a
    StyleGAN2GeneratorClean the learning rates of equalized-lr training (`equalized_lr_scales`, mapping network at
    `lr_mlp`); BasicSR trains it with one learning rate. `flush_denormal` flushes denormal
    floats to zero while training on CPU (speed; no effect on a GPU).
    """

    mean_path_length: torch.Tensor

    def __init__(
        self,
        net_g: nn.Module,
        net_d: nn.Module,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        gan_type: str = "wgan_softplus",
        r1_weight: float = 10.0,
        net_d_reg_every: int = 16,
        path_weight: float = 2.0,
        net_g_reg_every: int = 4,
        path_batch_shrink: int = 2,
        path_decay: float = 0.01,
        mixing_prob: float = 0.9,
        step_order: str = "d_first",
        separate_reg_steps: bool = False,
        equalized_lr: bool = False,
        lr_mlp: float = 0.01,
        flush_denormal: bool = False,
        ema_decay: float = OFFICIAL_EMA_DECAY,
        total_iter: int = 800000,
        seed: int | None = 0,
        nonfinite: NonFiniteGuard | None = None,
    ) -> None:
        super().__init__(total_iter=total_iter, ema_decay=ema_decay, seed=seed, nonfinite=nonfinite)
        num_style_feat = getattr(net_g, "num_style_feat", None)
        num_latent = getattr(net_g, "num_latent", None)
        if not isinstance(num_style_feat, int) or not isinstance(num_latent, int):
            raise TypeError(
                f"model.net_g must be a StyleGAN2 generator (StyleGAN2Generator or StyleGAN2GeneratorClean), "
                f"got {type(net_g).__name__}"
            )
        if step_order not in STEP_ORDERS:
            raise ValueError(f"model.step_order={step_order!r}: allowed values are {', '.join(STEP_ORDERS)}")
        if not 0 <= mixing_prob <= 1:
            raise ValueError(f"model.mixing_prob={mixing_prob}: must be in [0, 1]")
        if equalized_lr and not isinstance(net_g, StyleGAN2GeneratorClean):
            raise ValueError(
                f"model.equalized_lr=true is for StyleGAN2GeneratorClean (plain layers); {type(net_g).__name__} "
                "has equalized learning rates built in"
            )
        self.num_style_feat = num_style_feat
        self.num_latent = num_latent
        self.net_g_config = generator_config(net_g)
        self.net_g = net_g
        self.net_g_ema = copy.deepcopy(net_g).requires_grad_(False).eval()
        self.net_d = net_d
        self.optimizer_g = optimizer_g
        self.optimizer_d = optimizer_d
        self.scheduler_factory = scheduler
        self.cri_gan = GANLoss(gan_type)
        self.r1_weight = r1_weight
        self.net_d_reg_every = _positive("net_d_reg_every", net_d_reg_every)
        self.path_weight = path_weight
        self.net_g_reg_every = _positive("net_g_reg_every", net_g_reg_every)
        self.path_batch_shrink = _positive("path_batch_shrink", path_batch_shrink)
        self.path_decay = path_decay
        self.mixing_prob = mixing_prob
        self.step_order = step_order
        self.separate_reg_steps = separate_reg_steps
        self.equalized_lr = equalized_lr
        self.lr_mlp = lr_mlp
        self.flush_denormal = flush_denormal
        # Saved in every checkpoint with the weights (BasicSR keeps it as an attribute that a resume loses).
        self.register_buffer("mean_path_length", torch.zeros(()))
        self.last_losses: dict[str, float] = {}

    # ------------------------------------------------------------------ setup
    @property
    def optimizer_names(self) -> tuple[str, ...]:
        """g, then d: the checkpoint order."""
        return ("g", "d")

    def frozen_modules(self) -> list[nn.Module]:
        """The EMA generator never trains."""
        return [self.net_g_ema]

    def on_fit_start(self) -> None:
        # On CPU, denormal floats in the activations of a small GAN made iterations 20x slower after about ten
        # iterations in our runs (0.5 s -> 10 s); flushing them to zero is a process-wide CPU setting, undone at
        # teardown. GPUs run denormals at full speed.
        if self.flush_denormal and self.device.type == "cpu":
            torch.set_flush_denormal(True)

    def teardown(self, stage: str) -> None:
        if self.flush_denormal and self.device.type == "cpu":
            torch.set_flush_denormal(False)

    def _generator_parameters(self) -> Iterable[Any]:
        """net_g's parameters; with `equalized_lr`, groups by learning-rate factor (an 'lr_scale' key each)."""
        if not self.equalized_lr:
            return self.net_g.parameters()
        scales = equalized_lr_scales(self.net_g, self.lr_mlp)
        groups: dict[float, list[nn.Parameter]] = {}
        for name, param in self.net_g.named_parameters():
            groups.setdefault(scales[name], []).append(param)
        return [{"params": params, "lr_scale": scale} for scale, params in groups.items()]

    def configure_optimizers(self) -> Any:
        optimizer_g = self.optimizer_g(self._generator_parameters())
        for group in optimizer_g.param_groups:
            group["lr"] *= group.get("lr_scale", 1.0)
        optimizers = [optimizer_g, self.optimizer_d(self.net_d.parameters())]
        if self.scheduler_factory is None:
            return optimizers
        return optimizers, [self.scheduler_factory(opt) for opt in optimizers]

    @contextmanager
    def _fp32(self) -> Iterator[None]:
        """Autocast off: the gradient penalties (R1, path length) are computed in full precision."""
        with torch.autocast(device_type=self.device.type, enabled=False):
            yield

    # ---------------------------------------------------------------- sampling
    def sample_styles(self, batch: int) -> tuple[list[torch.Tensor], int | None]:
        """Latent codes for `batch` images: with probability `mixing_prob` two codes and the layer where the
        second takes over (style mixing), else one code and None.

        Draw order: the coin (CPU), the codes, the crossover layer (CPU) in [1, num_latent - 1], which is BasicSR's
        order (its coin and layer come from Python's `random`, here from the module's torch stream).
        """
        # The coin as a Python float: compared in double precision with mixing_prob, as BasicSR's random() is.
        if float(torch.rand(())) >= self.mixing_prob:
            return [torch.randn(batch, self.num_style_feat, device=self.device)], None
        styles = list(torch.randn(2, batch, self.num_style_feat, device=self.device).unbind(0))
        return styles, int(torch.randint(1, self.num_latent, ()))

    # ---------------------------------------------------------------- training
    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        self.iteration += 1
        start = time.perf_counter()
        with self.rng.active(self.device, self.global_rank):
            losses = self.train_iteration(batch["gt"], self.iteration)
        # The rates this iteration trained at (as BasicSR logs them), read before the schedulers move on.
        progress = {"lr/g": self._lr("g"), "lr/d": self._lr("d")}
        self.step_schedulers()
        batch_size = batch["gt"].shape[0]
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, on_step=True, batch_size=batch_size)
        progress |= {
            "train/mean_path_length": float(self.mean_path_length),
            "train/iteration": float(self.iteration),
            "train/nonfinite_skipped": float(self.nonfinite.skipped),
        }
        self.log_dict(progress, on_step=True, batch_size=batch_size)
        self.log("train/iter_time", time.perf_counter() - start, on_step=True, batch_size=batch_size, prog_bar=True)
        self.last_losses = {k: float(v) for k, v in losses.items()}

    def _lr(self, name: str) -> float:
        """The optimiser's learning rate (the base one under `equalized_lr`'s per-group factors)."""
        group = self.optimizer(name).param_groups[0]
        return float(group["lr"] / group.get("lr_scale", 1.0))

    def train_iteration(self, real: torch.Tensor, iteration: int) -> dict[str, torch.Tensor]:
        """One iteration on the real images `real` ([-1, 1]); returns every loss term (detached).

        Each optimiser steps only when its losses and gradients are finite (`step_allowed`) and its weights stay
        within `model.nonfinite.max_abs_weight` (`step_kept`); otherwise the rest of the iteration is skipped (no
        further step, no EMA update) or the run stops, as `model.nonfinite` says.
        """
        losses: dict[str, torch.Tensor] = {}
        steps: list[Step] = [self._discriminator_step, self._generator_step]
        if self.step_order == "g_first":
            steps.reverse()
        for step in steps:
            if not step(real, iteration, losses):
                return losses
        self.update_ema(self.net_g_ema, self.net_g)
        self.end_iteration(losses["l_g"], losses["l_d"])
        return losses

    def _step(
        self,
        stage: str,
        optimizer: Any,
        losses: dict[str, torch.Tensor],
        params: list[tuple[str, nn.Parameter]],
    ) -> bool:
        """Step `optimizer` unless the NaN/Inf guard refuses; returns whether it stepped and its weights stay within
        `model.nonfinite.max_abs_weight` (False: the rest of the iteration is dropped)."""
        if not self.step_allowed(stage, losses, params):
            return False
        optimizer.step()
        return self.step_kept(stage, params)

    def _discriminator_step(self, real: torch.Tensor, iteration: int, losses: dict[str, torch.Tensor]) -> bool:
        opt_d = self.optimizer("d")
        params = list(self.net_d.named_parameters(prefix="net_d"))
        with self.toggled_optimizer(opt_d):
            opt_d.zero_grad(set_to_none=True)
            styles, inject_index = self.sample_styles(real.shape[0])
            with torch.no_grad():
                fake, _ = self.net_g(styles, inject_index=inject_index)
            fake_pred = self.net_d(fake)
            real_pred = self.net_d(real)
            l_d = self.cri_gan(real_pred, True, is_disc=True) + self.cri_gan(fake_pred, False, is_disc=True)
            losses["l_d"] = l_d.detach()
            losses["real_score"] = real_pred.detach().mean()
            losses["fake_score"] = fake_pred.detach().mean()
            self.manual_backward(l_d)
            step_losses = {"l_d": losses["l_d"]}
            if self.r1_weight > 0 and iteration % self.net_d_reg_every == 0:
                if self.separate_reg_steps:
                    if not self._step("d", opt_d, step_losses, params):
                        return False
                    opt_d.zero_grad(set_to_none=True)
                    step_losses = {}
                with self._fp32():
                    real_r1 = real.detach().float().requires_grad_(True)
                    pred_r1 = self.net_d(real_r1)
                    # Lazy R1: gamma / 2 * penalty, times the interval. The zero term keeps D's output in the
                    # graph (DDP unused-parameter safety, as BasicSR).
                    l_r1 = self.r1_weight / 2 * r1_penalty(pred_r1, real_r1) * self.net_d_reg_every + 0 * pred_r1[0]
                losses["l_d_r1"] = l_r1.detach().mean()
                step_losses["l_d_r1"] = losses["l_d_r1"]
                self.manual_backward(l_r1.sum())
            return self._step("d" if "l_d" in step_losses else "d_r1", opt_d, step_losses, params)

    def _generator_step(self, real: torch.Tensor, iteration: int, losses: dict[str, torch.Tensor]) -> bool:
        opt_g = self.optimizer("g")
        params = list(self.net_g.named_parameters(prefix="net_g"))
        batch = real.shape[0]
        new_mean: torch.Tensor | None = None
        with self.toggled_optimizer(opt_g):
            opt_g.zero_grad(set_to_none=True)
            styles, inject_index = self.sample_styles(batch)
            fake, _ = self.net_g(styles, inject_index=inject_index)
            l_g = self.cri_gan(self.net_d(fake), True, is_disc=False)
            losses["l_g"] = l_g.detach()
            self.manual_backward(l_g)
            step_losses = {"l_g": losses["l_g"]}
            if self.path_weight > 0 and iteration % self.net_g_reg_every == 0:
                if self.separate_reg_steps:
                    if not self._step("g", opt_g, step_losses, params):
                        return False
                    opt_g.zero_grad(set_to_none=True)
                    step_losses = {}
                with self._fp32():
                    styles, inject_index = self.sample_styles(max(1, batch // self.path_batch_shrink))
                    fake, latents = self.net_g(styles, inject_index=inject_index, return_latents=True)
                    penalty, path_length, new_mean = path_length_penalty(
                        fake, latents, self.mean_path_length, self.path_decay
                    )
                    # Lazy regularisation: weight times the interval; the zero term as in BasicSR (DDP safety).
                    l_path = self.path_weight * self.net_g_reg_every * penalty + 0 * fake[0, 0, 0, 0]
                self.manual_backward(l_path)
                losses["l_g_path"] = l_path.detach().mean()
                losses["path_length"] = path_length
                step_losses["l_g_path"] = losses["l_g_path"]
            if not self._step("g" if "l_g" in step_losses else "g_path", opt_g, step_losses, params):
                return False
        if new_mean is not None:
            self.mean_path_length.copy_(new_mean)
        return True

    # -------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["net_g_config"] = copy.deepcopy(self.net_g_config)

    def export_official(self) -> dict[str, Any]:
        """{'params', 'params_ema', 'net_g_config', 'iteration'}: BasicSR's net_g_<iter>.pth layout plus our config.

        `params_ema` loads strictly as the decoder of GFPGANv1 (equalized prior) or GFPGANv1Clean (clean prior)
        through `model.init.decoder`.
        """
        return {
            "params": {k: v.detach().cpu().clone() for k, v in self.net_g.state_dict().items()},
            "params_ema": {k: v.detach().cpu().clone() for k, v in self.net_g_ema.state_dict().items()},
            "net_g_config": copy.deepcopy(self.net_g_config),
            "iteration": self.iteration,
        }
