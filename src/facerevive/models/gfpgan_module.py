"""GFPGAN training as a LightningModule: five optimisers, manual optimisation, the official step order.

One call of `training_step` is one GFPGAN iteration (TencentARC/GFPGAN `GFPGANModel.optimize_parameters`):
G step -> EMA update -> global D step (+ lazy R1 every `net_d_reg_every` iterations) -> component D steps.
Networks, losses and optimiser factories arrive built (Hydra instantiates configs/model/gfpgan_v1.yaml
recursively); the module only trains them.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torchvision.ops import roi_align

from facerevive.losses import GANLoss, component_style_loss, gray_for_identity, image_pyramid, l1, r1_penalty
from facerevive.metrics.psnr_ssim import psnr
from facerevive.models.base import IterationModule
from facerevive.models.export import generator_config
from facerevive.models.init_weights import LOSS_NETWORKS, NetworkInit, initialise_networks
from facerevive.models.nonfinite import NonFiniteGuard
from facerevive.utils.images import signed_to_unit

log = logging.getLogger(__name__)

COMPONENTS = ("left_eye", "right_eye", "mouth")
OFFICIAL_EMA_DECAY = 0.5 ** (32 / (10 * 1000))

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]


@dataclass(frozen=True)
class GFPGANLossWeights:
    """Weights of the GFPGAN loss terms (official option names in brackets); 0 switches a term off.

    The pyramid weight drops to `removed_pyramid` after iteration `remove_pyramid_after` (None: never).
    """

    pixel: float = 0.1  # pixel_opt.loss_weight
    pyramid: float = 1.0  # pyramid_loss_weight
    remove_pyramid_after: int | None = 50000  # remove_pyramid_loss
    removed_pyramid: float = 0.0  # official code: 1e-12 (keeps DDP from seeing unused parameters)
    gan: float = 0.1  # gan_opt.loss_weight
    component_gan: float = 1.0  # gan_component_opt.loss_weight
    comp_style: float = 200.0  # comp_style_weight
    identity: float = 10.0  # identity_weight
    r1: float = 10.0  # r1_reg_weight

    def pyramid_at(self, iteration: int) -> float:
        """Pyramid-loss weight at `iteration`: switched off (to `removed_pyramid`) after the cut-off."""
        cutoff = self.remove_pyramid_after
        if self.pyramid > 0 and cutoff is not None and iteration > cutoff:
            return self.removed_pyramid
        return self.pyramid


class CompiledOrEager:
    """A network as training calls it under `model.compile`: torch.compile'd, or eager once compiling failed.

    torch.compile works lazily: the first call compiles (its time is logged as the compile-time figure). If that
    fails, the reason is logged once and the network runs eagerly from then on: training never stops for it.
    """

    def __init__(self, name: str, net: nn.Module) -> None:
        self.name = name
        self.net = net
        self.compiled: Callable[..., Any] | None = torch.compile(net)
        self.compile_seconds: float | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.compiled is None:
            return self.net(*args, **kwargs)
        if self.compile_seconds is not None:
            return self.compiled(*args, **kwargs)
        start = time.perf_counter()
        try:
            out = self.compiled(*args, **kwargs)
        # Any compiler failure falls back; an error of the network itself comes back from the eager call.
        except Exception as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            log.warning(
                "model.compile: torch.compile of %s failed (%s: %s); %s runs eagerly",
                self.name,
                type(error).__name__,
                reason,
                self.name,
            )
            self.compiled = None
            return self.net(*args, **kwargs)
        self.compile_seconds = time.perf_counter() - start
        log.warning("model.compile: %s compiled in %.1f s (its first call)", self.name, self.compile_seconds)
        return out


def set_tf32(enabled: bool | None) -> None:
    """TF32 for CUDA float32 matmuls and cuDNN convolutions: True on, False off (exact fp32), None torch's defaults
    (cuDNN convolutions TF32, matmuls full fp32: how the official code runs). CUDA only: CPU kernels are untouched."""
    if enabled is None:
        return
    # The allow_tf32 flags, as the rest of the project sets them (torch refuses a mix with its fp32_precision API).
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


class GFPGANModule(IterationModule):
    """GFPGAN generator, global and facial-component discriminators, identity and perceptual losses.

    All three component discriminators or none (none disables the component losses); `net_identity` None
    disables the identity loss; `perceptual` None disables the perceptual and style losses. Optimisers and the
    scheduler are factories taking parameters (an optimiser); they are named g, d, d_left_eye, d_right_eye and
    d_mouth. The generator's own config (`net_g.config`) is stored in every checkpoint and export. `init` names
    the files the networks start from (`model.init`, see facerevive.models.init_weights): the loss networks'
    load here, the trained networks' when a fresh run starts fitting.
    `share_real_component_pass`: one component-D forward of the real crops per iteration serves both the G step's
    style features and the D step's real score (bit-identical to two passes; see `_real_component_pass`).
    `tf32` sets CUDA's TF32 modes when fitting starts (see `set_tf32`); `compile` runs the training passes of net_g
    and net_d through torch.compile (R1's double backward stays eager; see `CompiledOrEager`).
    """

    def __init__(
        self,
        net_g: nn.Module,
        net_d: nn.Module,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        loss_weights: GFPGANLossWeights | None = None,
        scheduler: SchedulerFactory | None = None,
        net_d_left_eye: nn.Module | None = None,
        net_d_right_eye: nn.Module | None = None,
        net_d_mouth: nn.Module | None = None,
        optimizer_component: OptimizerFactory | None = None,
        net_identity: nn.Module | None = None,
        perceptual: nn.Module | None = None,
        gan_type: str = "wgan_softplus",
        component_gan_type: str = "vanilla",
        net_d_reg_every: int = 16,
        net_d_iters: int = 1,
        net_d_init_iters: int = 0,
        ema_decay: float = OFFICIAL_EMA_DECAY,
        eye_out_size: int | None = None,
        mouth_out_size: int | None = None,
        total_iter: int = 800000,
        channels_last: bool = False,
        share_real_component_pass: bool = True,
        tf32: bool | None = None,
        compile: bool = False,
        seed: int | None = 0,
        nonfinite: NonFiniteGuard | None = None,
        init: NetworkInit | None = None,
    ) -> None:
        super().__init__(total_iter=total_iter, ema_decay=ema_decay, seed=seed, nonfinite=nonfinite)
        self.loss_weights = loss_weights or GFPGANLossWeights()
        self.net_g_config = generator_config(net_g)
        self.net_g = net_g
        self.net_g_ema = copy.deepcopy(net_g).requires_grad_(False).eval()
        self.net_d = net_d
        components = {"left_eye": net_d_left_eye, "right_eye": net_d_right_eye, "mouth": net_d_mouth}
        given = [name for name, net in components.items() if net is not None]
        if given and len(given) != len(COMPONENTS):
            raise ValueError(f"model: give all three component discriminators or none; got only {given}")
        self.use_components = bool(given)
        if self.use_components and optimizer_component is None:
            raise ValueError("model.optimizer_component is required when component discriminators are set")
        self.net_d_left_eye = net_d_left_eye
        self.net_d_right_eye = net_d_right_eye
        self.net_d_mouth = net_d_mouth
        self.net_identity = net_identity
        self.perceptual = perceptual
        self.network_init = init or NetworkInit()
        initialise_networks(self._file_targets(), self.network_init.specs(LOSS_NETWORKS))
        if net_identity is not None:
            net_identity.requires_grad_(False).eval()
        if perceptual is not None:
            perceptual.requires_grad_(False)
        self.optimizer_g = optimizer_g
        self.optimizer_d = optimizer_d
        self.optimizer_component = optimizer_component
        self.scheduler_factory = scheduler

        self.cri_gan = GANLoss(gan_type, loss_weight=self.loss_weights.gan)
        self.cri_component = GANLoss(component_gan_type, loss_weight=self.loss_weights.component_gan)
        self.net_d_reg_every = net_d_reg_every
        self.net_d_iters = net_d_iters
        self.net_d_init_iters = net_d_init_iters
        self.channels_last = channels_last
        self.share_real_component_pass = share_real_component_pass
        self.tf32 = tf32
        self.use_compile = compile
        self._compiled: dict[str, CompiledOrEager] = {}
        # FaceRevive's generators state out_size; the official classes (the parity tests plug them in) only log_size.
        self.out_size = int(getattr(net_g, "out_size", 0) or 2 ** int(net_g.log_size))  # type: ignore[arg-type]
        # BasicSR crops 80 (eyes) and 120 (mouth) px at 512; other sizes scale them linearly.
        self.eye_out_size = eye_out_size or max(1, round(80 * self.out_size / 512))
        self.mouth_out_size = mouth_out_size or max(1, round(120 * self.out_size / 512))
        self.last_losses: dict[str, float] = {}
        if channels_last:
            self._to_channels_last()

    # ------------------------------------------------------------------ setup
    def _file_targets(self) -> dict[str, nn.Module | None]:
        """The module each key of `model.init` loads into (None: the run has no such network)."""
        vgg = getattr(self.perceptual, "vgg", None)
        return {
            "decoder": getattr(self.net_g, "stylegan_decoder", None),
            "net_g": self.net_g,
            "net_d": self.net_d,
            **{f"net_d_{name}": net for name, net in self.component_discriminators().items()},
            "net_identity": self.net_identity,
            "perceptual": getattr(vgg, "vgg_net", None),
        }

    def on_fit_start(self) -> None:
        """A fresh run starts its networks from `init`; a resumed one has loaded its checkpoint instead. Then the
        speed switches that act on the process or the networks: TF32, torch.compile."""
        if self.trainer.ckpt_path is None:
            self.initialise_from_files()
        set_tf32(self.tf32)
        if self.use_compile and not self._compiled:
            self._compiled = {name: CompiledOrEager(name, getattr(self, name)) for name in ("net_g", "net_d")}

    def _train_pass(self, name: str) -> Callable[..., Any]:
        """Network `name` (net_g, net_d) as the G and D steps call it: compiled under `compile`, else itself."""
        return self._compiled.get(name) or getattr(self, name)

    def initialise_from_files(self) -> None:
        """Load the trained networks' files of `init` (strictly); net_g_ema then starts equal to net_g."""
        specs = self.network_init.trained_specs()
        initialise_networks(self._file_targets(), specs)
        if {"net_g", "decoder"} & set(specs):
            self.net_g_ema.load_state_dict(self.net_g.state_dict())

    @property
    def optimizer_names(self) -> tuple[str, ...]:
        """g, d, then (with components) d_left_eye, d_right_eye, d_mouth: the checkpoint order."""
        return ("g", "d", *(f"d_{name}" for name in self.component_discriminators()))

    def frozen_modules(self) -> list[nn.Module]:
        """Networks that never train: the EMA copy, ArcFace and the perceptual VGG."""
        frozen = [self.net_g_ema]
        if self.net_identity is not None:
            frozen.append(self.net_identity)
        if self.perceptual is not None:
            frozen.append(self.perceptual)
        return frozen

    def loss_networks(self) -> dict[str, nn.Module]:
        """ArcFace and the perceptual VGG (when on): rebuilt from the config at every start, not checkpointed."""
        networks = {"net_identity": self.net_identity, "perceptual": self.perceptual}
        return {name: net for name, net in networks.items() if net is not None}

    def component_discriminators(self) -> dict[str, nn.Module]:
        """The three component discriminators by component name (empty without components)."""
        if not self.use_components:
            return {}
        return {name: getattr(self, f"net_d_{name}") for name in COMPONENTS}

    def configure_optimizers(self) -> Any:
        # Trainable generator parameters only: a frozen decoder takes no optimiser state.
        optimizers = [
            self.optimizer_g([p for p in self.net_g.parameters() if p.requires_grad]),
            self.optimizer_d(self.net_d.parameters()),
        ]
        if self.optimizer_component is not None:
            for net in self.component_discriminators().values():
                optimizers.append(self.optimizer_component(net.parameters()))
        if self.scheduler_factory is None:
            return optimizers
        return optimizers, [self.scheduler_factory(opt) for opt in optimizers]

    def _to_channels_last(self) -> None:
        """Store every 4-D weight channels-last (Module.to(memory_format=...) rejects the other ranks)."""
        with torch.no_grad():
            for tensor in [*self.parameters(), *self.buffers()]:
                if tensor.dim() == 4:
                    tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)

    # --------------------------------------------------------------- helpers
    def _memory_format(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def component_crops(self, images: torch.Tensor, boxes: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """ROI-aligned eye (eye_out_size) and mouth (mouth_out_size) crops from (x1,y1,x2,y2) pixel boxes."""
        index = torch.arange(images.shape[0], device=images.device, dtype=images.dtype).unsqueeze(1)
        crops = {}
        for name in COMPONENTS:
            rois = torch.cat([index, boxes[name].to(images)], dim=1)
            size = self.mouth_out_size if name == "mouth" else self.eye_out_size
            crops[name] = roi_align(images, rois, output_size=size)
        return crops

    @staticmethod
    def batch_boxes(batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The batch's component boxes; a clear error naming the fix when the dataset has none."""
        missing = [f"loc_{name}" for name in COMPONENTS if f"loc_{name}" not in batch]
        if missing:
            raise KeyError(
                f"the batch has no {missing}: component discriminators need the dataset's box file "
                "(data component_path), or use an experiment without components (gfpgan_v1_simple)"
            )
        return {name: batch[f"loc_{name}"] for name in COMPONENTS}

    @staticmethod
    def _real_component_pass(
        discs: Mapping[str, nn.Module], crops_real: Mapping[str, torch.Tensor]
    ) -> dict[str, tuple[torch.Tensor, list[torch.Tensor]]]:
        """(real logits, [conv3, conv5] features) of each component D on its real crops, graph kept for D's step.

        Run before the G step's toggle, while the component discriminators still require grad. Their weights do
        not change before their own step (only G and the global D step in between, and they hold no buffers that
        a forward updates), so the G step's style features (detached by component_style_loss) and the D step's
        real score are exactly what two separate passes would give; only their one backward remains.
        """
        return {name: net(crops_real[name], return_feats=True) for name, net in discs.items()}

    @contextmanager
    def _fp32(self) -> Iterator[None]:
        """Autocast off (for R1: gradient penalties are computed in full precision)."""
        with torch.autocast(device_type=self.device.type, enabled=False):
            yield

    # ---------------------------------------------------------------- training
    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        self.iteration += 1
        start = time.perf_counter()
        with self.rng.active(self.device, self.global_rank):
            losses = self.train_iteration(batch, self.iteration)
        # The rates this iteration trained at (as BasicSR logs them), read before the schedulers move on.
        lrs = {"lr/g": self._lr("g"), "lr/d": self._lr("d")}
        if self.use_components:
            lrs["lr/d_component"] = self._lr("d_left_eye")
        self.step_schedulers()
        batch_size = batch["lq"].shape[0]
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, on_step=True, batch_size=batch_size)
        self.log_dict(lrs, on_step=True, batch_size=batch_size)
        self.log("train/iteration", float(self.iteration), on_step=True, batch_size=batch_size)
        self.log("train/nonfinite_skipped", float(self.nonfinite.skipped), on_step=True, batch_size=batch_size)
        self.log("train/iter_time", time.perf_counter() - start, on_step=True, batch_size=batch_size, prog_bar=True)
        self.last_losses = {k: float(v) for k, v in losses.items()}

    def _lr(self, name: str) -> float:
        return float(self.optimizer(name).param_groups[0]["lr"])

    def train_iteration(self, batch: Mapping[str, Any], iteration: int) -> dict[str, torch.Tensor]:
        """One full GFPGAN iteration; returns every loss term (detached) by its official name.

        Each optimiser steps only when its losses and gradients are finite (`step_allowed`), and its weights must
        stay within `model.nonfinite.max_abs_weight` after the step (`step_kept`); otherwise the rest of the
        iteration is skipped (no further step, no EMA update) or the run stops, as `model.nonfinite` says.
        """
        weights = self.loss_weights
        opt_g, opt_d = self.optimizer("g"), self.optimizer("d")
        discs = self.component_discriminators()
        opt_components = {name: self.optimizer(f"d_{name}") for name in discs}
        lq, gt = self._memory_format(batch["lq"]), self._memory_format(batch["gt"])
        losses: dict[str, torch.Tensor] = {}
        g_total: torch.Tensor | None = None

        # ---- generator
        pyramid_weight = weights.pyramid_at(iteration)
        generator_step = iteration % self.net_d_iters == 0 and iteration > self.net_d_init_iters
        crops_fake: dict[str, torch.Tensor] = {}
        crops_real: dict[str, torch.Tensor] = {}
        real_passes: dict[str, tuple[torch.Tensor, list[torch.Tensor]]] = {}
        if self.use_components:
            boxes = self.batch_boxes(batch)
            crops_real = self.component_crops(gt, boxes)
            if generator_step and weights.comp_style > 0 and self.share_real_component_pass:
                real_passes = self._real_component_pass(discs, crops_real)
        with self.toggled_optimizer(opt_g):
            opt_g.zero_grad(set_to_none=True)
            output, out_rgbs = self._train_pass("net_g")(lq, return_rgb=pyramid_weight > 0)
            if self.use_components:
                crops_fake = self.component_crops(output, boxes)
            if generator_step:
                g_total = self._generator_losses(
                    output, out_rgbs, gt, crops_fake, crops_real, real_passes, pyramid_weight, losses
                )
                self.manual_backward(g_total)
                g_params = list(self.net_g.named_parameters(prefix="net_g"))
                if not self.step_allowed("g", losses, g_params):
                    return losses
                opt_g.step()
                if not self.step_kept("g", g_params):
                    return losses

        # ---- EMA of the generator
        self.update_ema(self.net_g_ema, self.net_g)

        # ---- global discriminator (+ lazy R1)
        with self.toggled_optimizer(opt_d):
            opt_d.zero_grad(set_to_none=True)
            for opt in opt_components.values():
                opt.zero_grad(set_to_none=True)
            fake_pred = self._train_pass("net_d")(output.detach())
            real_pred = self._train_pass("net_d")(gt)
            l_d = self.cri_gan(real_pred, True, is_disc=True) + self.cri_gan(fake_pred, False, is_disc=True)
            losses["l_d"] = l_d.detach()
            losses["real_score"] = real_pred.detach().mean()
            losses["fake_score"] = fake_pred.detach().mean()
            self.manual_backward(l_d)
            if iteration % self.net_d_reg_every == 0:
                with self._fp32():
                    gt_r1 = gt.detach().float().requires_grad_(True)
                    real_pred_r1 = self.net_d(gt_r1)
                    l_r1 = r1_penalty(real_pred_r1, gt_r1)
                    # The zero term keeps D's output in the graph (DDP unused-parameter safety, as official).
                    l_r1 = weights.r1 / 2 * l_r1 * self.net_d_reg_every + 0 * real_pred_r1[0]
                losses["l_d_r1"] = l_r1.detach().mean()
                self.manual_backward(l_r1.sum())
            d_losses: dict[str, torch.Tensor] = {key: losses[key] for key in ("l_d", "l_d_r1") if key in losses}
            d_params = list(self.net_d.named_parameters(prefix="net_d"))
            if not self.step_allowed("d", d_losses, d_params):
                return losses
            opt_d.step()
            if not self.step_kept("d", d_params):
                return losses

        # ---- facial-component discriminators
        for name, net in discs.items():
            fake_pred, _ = net(crops_fake[name].detach())
            real_pred = real_passes[name][0] if name in real_passes else net(crops_real[name])[0]
            # The official code scores the fake crops with the global GAN criterion: kept for parity.
            l_comp = self.cri_component(real_pred, True, is_disc=True) + self.cri_gan(fake_pred, False, is_disc=True)
            losses[f"l_d_{name}"] = l_comp.detach()
            self.manual_backward(l_comp)
        component_losses = {f"l_d_{name}": losses[f"l_d_{name}"] for name in discs}
        component_params = [
            item for name, net in discs.items() for item in net.named_parameters(prefix=f"net_d_{name}")
        ]
        if discs and not self.step_allowed("d_component", component_losses, component_params):
            return losses
        for opt in opt_components.values():
            opt.step()
        if discs and not self.step_kept("d_component", component_params):
            return losses
        self.end_iteration(g_total, losses["l_d"])
        return losses

    def _generator_losses(
        self,
        output: torch.Tensor,
        out_rgbs: list[torch.Tensor],
        gt: torch.Tensor,
        crops_fake: dict[str, torch.Tensor],
        crops_real: dict[str, torch.Tensor],
        real_passes: dict[str, tuple[torch.Tensor, list[torch.Tensor]]],
        pyramid_weight: float,
        losses: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        weights = self.loss_weights
        terms: list[torch.Tensor] = []

        def add(name: str, value: torch.Tensor) -> None:
            terms.append(value)
            losses[name] = value.detach()

        if weights.pixel > 0:
            add("l_g_pix", l1(output, gt) * weights.pixel)
        if pyramid_weight > 0:
            for i, target in enumerate(image_pyramid(gt, len(out_rgbs))):
                add(f"l_p_{2 ** (i + 3)}", l1(out_rgbs[i], target) * pyramid_weight)
        if self.perceptual is not None:
            percep, style = self.perceptual(output, gt)
            if percep is not None:
                add("l_g_percep", percep)
            if style is not None:
                add("l_g_style", style)
        add("l_g_gan", self.cri_gan(self._train_pass("net_d")(output), True, is_disc=False))
        discs = self.component_discriminators()
        if discs:
            fake_feats = {}
            for name, net in discs.items():
                pred, fake_feats[name] = net(crops_fake[name], return_feats=True)
                add(f"l_g_gan_{name}", self.cri_component(pred, True, is_disc=False))
            if weights.comp_style > 0:
                real_feats = {
                    name: real_passes[name][1] if name in real_passes else net(crops_real[name], return_feats=True)[1]
                    for name, net in discs.items()
                }
                style_terms = [component_style_loss(fake_feats[name], real_feats[name]) for name in discs]
                style_total = style_terms[0]
                for term in style_terms[1:]:
                    style_total = style_total + term
                add("l_g_comp_style_loss", style_total * weights.comp_style)
        if self.net_identity is not None and weights.identity > 0:
            identity_gt = self.net_identity(gray_for_identity(gt)).detach()
            identity_out = self.net_identity(gray_for_identity(output))
            add("l_identity", l1(identity_out, identity_gt) * weights.identity)
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total

    # -------------------------------------------------------------- validation
    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        """PSNR and L1 of `net_g_ema` against GT on [0,1] images (and of the degraded input, for reference)."""
        lq, gt = batch["lq"], batch["gt"]
        with torch.no_grad():
            output, _ = self.net_g_ema(lq, return_rgb=False, randomize_noise=False)
        out01 = signed_to_unit(output.float())
        gt01 = signed_to_unit(gt.float())
        lq01 = signed_to_unit(lq.float())
        metrics = {
            "val/psnr": psnr(out01, gt01).mean().float(),
            "val/l1": (out01 - gt01).abs().mean(),
            "val/l1_input": (lq01 - gt01).abs().mean(),
        }
        self.log_dict(metrics, on_epoch=True, batch_size=lq.shape[0], sync_dist=True)

    @torch.no_grad()
    def log_images(self, batch: Mapping[str, Any], max_images: int = 4) -> dict[str, Any]:
        """Tensors in [-1,1] for the image callback: lq, restored (EMA), gt, and the U-Net pyramid."""
        lq = batch["lq"][:max_images].to(self.device)
        gt = batch["gt"][:max_images].to(self.device)
        restored, pyramid = self.net_g_ema(lq, return_rgb=True, randomize_noise=False)
        return {"lq": lq, "restored": restored.float(), "gt": gt, "pyramid": [p.float() for p in pyramid]}

    # -------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["net_g_config"] = copy.deepcopy(self.net_g_config)

    def export_official(self) -> dict[str, Any]:
        """{'params', 'params_ema', 'net_g_config', 'iteration'}: the official GFPGAN layout plus our config."""
        return {
            "params": {k: v.detach().cpu().clone() for k, v in self.net_g.state_dict().items()},
            "params_ema": {k: v.detach().cpu().clone() for k, v in self.net_g_ema.state_dict().items()},
            "net_g_config": copy.deepcopy(self.net_g_config),
            "iteration": self.iteration,
        }
