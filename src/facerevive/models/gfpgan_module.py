"""GFPGAN training as a LightningModule: five optimisers, manual optimisation, the official step order.

One call of `training_step` is one GFPGAN iteration (TencentARC/GFPGAN `GFPGANModel.optimize_parameters`):
G step -> EMA update -> global D step (+ lazy R1 every `net_d_reg_every` iterations) -> component D steps.
Networks, losses and optimiser factories arrive built (Hydra instantiates configs/model/gfpgan_v1.yaml
recursively); the module only trains them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torchvision.ops import roi_align

from facerevive.losses import GANLoss, component_style_loss, gray_for_identity, image_pyramid, l1
from facerevive.metrics.psnr_ssim import psnr
from facerevive.models.base import IterationModule, OptimizerFactory
from facerevive.models.init_weights import LOSS_NETWORKS, NetworkInit, initialise_networks
from facerevive.utils.images import signed_to_unit

log = logging.getLogger(__name__)

COMPONENTS = ("left_eye", "right_eye", "mouth")


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


class GFPGANModule(IterationModule):
    """GFPGAN generator, global and facial-component discriminators, identity and perceptual losses.

    All three component discriminators or none (none disables the component losses); `net_identity` None
    disables the identity loss; `perceptual` None disables the perceptual and style losses. The optimisers are
    named g, d, d_left_eye, d_right_eye and d_mouth (`optimizer_component` builds the last three). `init` names
    the files the networks start from (`model.init`, see facerevive.models.init_weights): the loss networks'
    load here, the trained networks' when a fresh run starts fitting. The other
    arguments (scheduler, net_d_reg_every, ema_decay, total_iter, seed, nonfinite and the speed switches) are
    IterationModule's.
    """

    def __init__(
        self,
        net_g: nn.Module,
        net_d: nn.Module,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        loss_weights: GFPGANLossWeights | None = None,
        net_d_left_eye: nn.Module | None = None,
        net_d_right_eye: nn.Module | None = None,
        net_d_mouth: nn.Module | None = None,
        optimizer_component: OptimizerFactory | None = None,
        net_identity: nn.Module | None = None,
        perceptual: nn.Module | None = None,
        gan_type: str = "wgan_softplus",
        component_gan_type: str = "vanilla",
        net_d_iters: int = 1,
        net_d_init_iters: int = 0,
        eye_out_size: int | None = None,
        mouth_out_size: int | None = None,
        init: NetworkInit | None = None,
        **shared: Any,
    ) -> None:
        super().__init__(net_g, net_d, optimizer_g, optimizer_d, **shared)
        self.loss_weights = loss_weights or GFPGANLossWeights()
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
        self.optimizer_component = optimizer_component

        self.cri_gan = GANLoss(gan_type, loss_weight=self.loss_weights.gan)
        self.cri_component = GANLoss(component_gan_type, loss_weight=self.loss_weights.component_gan)
        self.net_d_iters = net_d_iters
        self.net_d_init_iters = net_d_init_iters
        # FaceRevive's generators state out_size; the official classes (the parity tests plug them in) only log_size.
        self.out_size = int(getattr(net_g, "out_size", 0) or 2 ** int(net_g.log_size))  # type: ignore[arg-type]
        # BasicSR crops 80 (eyes) and 120 (mouth) px at 512; other sizes scale them linearly.
        self.eye_out_size = eye_out_size or max(1, round(80 * self.out_size / 512))
        self.mouth_out_size = mouth_out_size or max(1, round(120 * self.out_size / 512))

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
        speed switches."""
        if self.trainer.ckpt_path is None:
            self.initialise_from_files()
        super().on_fit_start()

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

    def extra_optimizers(self) -> list[torch.optim.Optimizer]:
        """One optimiser per component discriminator (none without components)."""
        factory = self.optimizer_component
        if factory is None:
            return []
        return [factory(net.parameters()) for net in self.component_discriminators().values()]

    def frozen_modules(self) -> list[nn.Module]:
        """Networks that never train: the EMA copy, ArcFace and the perceptual VGG."""
        return [*super().frozen_modules(), *self.loss_networks().values()]

    def loss_networks(self) -> dict[str, nn.Module]:
        """ArcFace and the perceptual VGG (when on): rebuilt from the config at every start, not checkpointed."""
        networks = {"net_identity": self.net_identity, "perceptual": self.perceptual}
        return {name: net for name, net in networks.items() if net is not None}

    def component_discriminators(self) -> dict[str, nn.Module]:
        """The three component discriminators by component name (empty without components)."""
        if not self.use_components:
            return {}
        return {name: getattr(self, f"net_d_{name}") for name in COMPONENTS}

    def logged_rates(self) -> dict[str, float]:
        rates = super().logged_rates()
        if self.use_components:
            rates["lr/d_component"] = self._lr("d_left_eye")
        return rates

    # --------------------------------------------------------------- helpers
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
        real score are exactly what the official code's two separate passes give (losses and weights were
        bit-identical to the two-pass form while it was kept as an option); only their one backward remains.
        """
        return {name: net(crops_real[name], return_feats=True) for name, net in discs.items()}

    # ---------------------------------------------------------------- training
    def train_iteration(self, batch: Mapping[str, Any], iteration: int) -> dict[str, torch.Tensor]:
        """One full GFPGAN iteration; returns every loss term (detached) by its official name."""
        weights = self.loss_weights
        opt_g, opt_d = self.optimizer("g"), self.optimizer("d")
        discs = self.component_discriminators()
        opt_components = [self.optimizer(f"d_{name}") for name in discs]
        lq, gt = self.memory_format(batch["lq"]), self.memory_format(batch["gt"])
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
            if generator_step and weights.comp_style > 0:
                real_passes = self._real_component_pass(discs, crops_real)
        with self.toggled_optimizer(opt_g):
            opt_g.zero_grad(set_to_none=True)
            output, out_rgbs = self.train_pass("net_g")(lq, return_rgb=pyramid_weight > 0)
            if self.use_components:
                crops_fake = self.component_crops(output, boxes)
            if generator_step:
                g_total = self._generator_losses(output, out_rgbs, gt, crops_fake, real_passes, pyramid_weight, losses)
                self.manual_backward(g_total)
                if not self.guarded_step("g", opt_g, losses, list(self.net_g.named_parameters(prefix="net_g"))):
                    return losses

        # ---- EMA of the generator
        self.update_ema(self.net_g_ema, self.net_g)

        # ---- global discriminator (+ lazy R1)
        with self.toggled_optimizer(opt_d):
            opt_d.zero_grad(set_to_none=True)
            for opt in opt_components:
                opt.zero_grad(set_to_none=True)
            fake_pred = self.train_pass("net_d")(output.detach())
            real_pred = self.train_pass("net_d")(gt)
            l_d = self.cri_gan(real_pred, True, is_disc=True) + self.cri_gan(fake_pred, False, is_disc=True)
            losses["l_d"] = l_d.detach()
            losses["real_score"] = real_pred.detach().mean()
            losses["fake_score"] = fake_pred.detach().mean()
            self.manual_backward(l_d)
            if iteration % self.net_d_reg_every == 0:
                losses["l_d_r1"] = self.lazy_r1(gt, weights.r1)
            d_losses: dict[str, torch.Tensor] = {key: losses[key] for key in ("l_d", "l_d_r1") if key in losses}
            if not self.guarded_step("d", opt_d, d_losses, list(self.net_d.named_parameters(prefix="net_d"))):
                return losses

        # ---- facial-component discriminators
        for name, net in discs.items():
            fake_pred, _ = net(crops_fake[name].detach())
            real_pred = real_passes[name][0] if name in real_passes else net(crops_real[name])[0]
            # The official code scores the fake crops with the global GAN criterion: kept for parity.
            l_comp = self.cri_component(real_pred, True, is_disc=True) + self.cri_gan(fake_pred, False, is_disc=True)
            losses[f"l_d_{name}"] = l_comp.detach()
            self.manual_backward(l_comp)
        if discs:
            component_losses = {f"l_d_{name}": losses[f"l_d_{name}"] for name in discs}
            params = [item for name, net in discs.items() for item in net.named_parameters(prefix=f"net_d_{name}")]
            if not self.guarded_step("d_component", opt_components, component_losses, params):
                return losses
        self.end_iteration(g_total, losses["l_d"])
        return losses

    def _generator_losses(
        self,
        output: torch.Tensor,
        out_rgbs: list[torch.Tensor],
        gt: torch.Tensor,
        crops_fake: dict[str, torch.Tensor],
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
        add("l_g_gan", self.cri_gan(self.train_pass("net_d")(output), True, is_disc=False))
        discs = self.component_discriminators()
        if discs:
            fake_feats = {}
            for name, net in discs.items():
                pred, fake_feats[name] = net(crops_fake[name], return_feats=True)
                add(f"l_g_gan_{name}", self.cri_component(pred, True, is_disc=False))
            if weights.comp_style > 0:
                style_terms = [component_style_loss(fake_feats[name], real_passes[name][1]) for name in discs]
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
