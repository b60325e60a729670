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

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from facerevive.archs.gfpgan_clean_arch import ModulatedConv2dClean, StyleGAN2GeneratorClean
from facerevive.losses import GANLoss, path_length_penalty
from facerevive.models.base import IterationModule, OptimizerFactory

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
    `lr_mlp`); BasicSR trains it with one learning rate. The other arguments (scheduler, net_d_reg_every,
    ema_decay, total_iter, seed, nonfinite and the speed switches) are IterationModule's.
    """

    mean_path_length: torch.Tensor

    def __init__(
        self,
        net_g: nn.Module,
        net_d: nn.Module,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        gan_type: str = "wgan_softplus",
        r1_weight: float = 10.0,
        path_weight: float = 2.0,
        net_g_reg_every: int = 4,
        path_batch_shrink: int = 2,
        path_decay: float = 0.01,
        mixing_prob: float = 0.9,
        step_order: str = "d_first",
        separate_reg_steps: bool = False,
        equalized_lr: bool = False,
        lr_mlp: float = 0.01,
        **shared: Any,
    ) -> None:
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
        super().__init__(net_g, net_d, optimizer_g, optimizer_d, **shared)
        self.num_style_feat = num_style_feat
        self.num_latent = num_latent
        self.cri_gan = GANLoss(gan_type)
        self.r1_weight = r1_weight
        self.path_weight = path_weight
        self.net_g_reg_every = _positive("net_g_reg_every", net_g_reg_every)
        self.path_batch_shrink = _positive("path_batch_shrink", path_batch_shrink)
        self.path_decay = path_decay
        self.mixing_prob = mixing_prob
        self.step_order = step_order
        self.separate_reg_steps = separate_reg_steps
        self.equalized_lr = equalized_lr
        self.lr_mlp = lr_mlp
        # Saved in every checkpoint with the weights (BasicSR keeps it as an attribute that a resume loses).
        self.register_buffer("mean_path_length", torch.zeros(()))

    # ------------------------------------------------------------------ setup
    def generator_parameters(self) -> Iterable[Any]:
        """net_g's parameters; with `equalized_lr`, groups by learning-rate factor (an 'lr_scale' key each)."""
        if not self.equalized_lr:
            return super().generator_parameters()
        scales = equalized_lr_scales(self.net_g, self.lr_mlp)
        groups: dict[float, list[nn.Parameter]] = {}
        for name, param in self.net_g.named_parameters():
            groups.setdefault(scales[name], []).append(param)
        return [{"params": params, "lr_scale": scale} for scale, params in groups.items()]

    def logged_progress(self) -> dict[str, float]:
        return {"train/mean_path_length": float(self.mean_path_length)}

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
    def train_iteration(self, batch: Mapping[str, Any], iteration: int) -> dict[str, torch.Tensor]:
        """One iteration on the real images `batch['gt']` ([-1, 1]); returns every loss term (detached)."""
        real = self.memory_format(batch["gt"])
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

    def _discriminator_step(self, real: torch.Tensor, iteration: int, losses: dict[str, torch.Tensor]) -> bool:
        opt_d = self.optimizer("d")
        params = list(self.net_d.named_parameters(prefix="net_d"))
        with self.toggled_optimizer(opt_d):
            opt_d.zero_grad(set_to_none=True)
            styles, inject_index = self.sample_styles(real.shape[0])
            with torch.no_grad():
                fake, _ = self.train_pass("net_g")(styles, inject_index=inject_index)
            fake_pred = self.train_pass("net_d")(fake)
            real_pred = self.train_pass("net_d")(real)
            l_d = self.cri_gan(real_pred, True, is_disc=True) + self.cri_gan(fake_pred, False, is_disc=True)
            losses["l_d"] = l_d.detach()
            losses["real_score"] = real_pred.detach().mean()
            losses["fake_score"] = fake_pred.detach().mean()
            self.manual_backward(l_d)
            step_losses = {"l_d": losses["l_d"]}
            if self.r1_weight > 0 and iteration % self.net_d_reg_every == 0:
                if self.separate_reg_steps:
                    if not self.guarded_step("d", opt_d, step_losses, params):
                        return False
                    opt_d.zero_grad(set_to_none=True)
                    step_losses = {}
                losses["l_d_r1"] = step_losses["l_d_r1"] = self.lazy_r1(real, self.r1_weight)
            return self.guarded_step("d" if "l_d" in step_losses else "d_r1", opt_d, step_losses, params)

    def _generator_step(self, real: torch.Tensor, iteration: int, losses: dict[str, torch.Tensor]) -> bool:
        opt_g = self.optimizer("g")
        params = list(self.net_g.named_parameters(prefix="net_g"))
        batch = real.shape[0]
        new_mean: torch.Tensor | None = None
        with self.toggled_optimizer(opt_g):
            opt_g.zero_grad(set_to_none=True)
            styles, inject_index = self.sample_styles(batch)
            fake, _ = self.train_pass("net_g")(styles, inject_index=inject_index)
            l_g = self.cri_gan(self.train_pass("net_d")(fake), True, is_disc=False)
            losses["l_g"] = l_g.detach()
            self.manual_backward(l_g)
            step_losses = {"l_g": losses["l_g"]}
            if self.path_weight > 0 and iteration % self.net_g_reg_every == 0:
                if self.separate_reg_steps:
                    if not self.guarded_step("g", opt_g, step_losses, params):
                        return False
                    opt_g.zero_grad(set_to_none=True)
                    step_losses = {}
                with self.fp32():
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
            if not self.guarded_step("g" if "l_g" in step_losses else "g_path", opt_g, step_losses, params):
                return False
        if new_mean is not None:
            self.mean_path_length.copy_(new_mean)
        return True
