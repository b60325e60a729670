"""GFPGAN training as a LightningModule: five optimisers, manual optimisation, the official step order.

One call of `training_step` is one GFPGAN iteration (TencentARC/GFPGAN `GFPGANModel.optimize_parameters`):
G step -> EMA update -> global D step (+ lazy R1 every `net_d_reg_every` iterations) -> component D steps.
Every schedule runs on `self.iteration` (1-based like BasicSR's `current_iter`), not on Lightning's
`global_step`, which counts each of the five optimiser steps.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torchvision.ops import roi_align

from facerevive.losses import GANLoss, component_style_loss, gray_for_identity, image_pyramid, l1, r1_penalty
from facerevive.models.ema import ema_update
from facerevive.models.export import generator_config
from facerevive.models.rng import RNGStream, global_rng_states, set_global_rng_states

log = logging.getLogger(__name__)

COMPONENTS = ("left_eye", "right_eye", "mouth")
OFFICIAL_EMA_DECAY = 0.5 ** (32 / (10 * 1000))


def _plain(config: Any) -> Any:
    """A resolved plain container from a DictConfig (or the value as it is)."""
    if isinstance(config, DictConfig):
        return OmegaConf.to_container(config, resolve=True)
    return copy.deepcopy(config)


def _build(config: Any, what: str) -> Any:
    if config is None:
        return None
    if isinstance(config, nn.Module):
        return config
    if not isinstance(config, Mapping) or "_target_" not in config:
        raise ValueError(f"model.{what} must be a config with a `_target_` (or null); got {config!r}")
    return instantiate(config, _convert_="all")


class GFPGANModule(L.LightningModule):
    """GFPGAN generator, global and facial-component discriminators, identity and perceptual losses.

    Networks, losses and optimisers arrive as Hydra configs (the model config is instantiated with
    `_recursive_: false`) so that the generator's config can be stored in every checkpoint and export.
    A component discriminator config of null disables the component losses; `net_identity: null`
    disables the identity loss; `perceptual: null` disables the perceptual and style losses.
    """

    def __init__(
        self,
        net_g: Mapping,
        net_d: Mapping,
        optimizer_g: Mapping,
        optimizer_d: Mapping,
        scheduler: Mapping | None = None,
        net_d_left_eye: Mapping | None = None,
        net_d_right_eye: Mapping | None = None,
        net_d_mouth: Mapping | None = None,
        optimizer_component: Mapping | None = None,
        net_identity: Mapping | None = None,
        identity_load_path: str | None = None,
        perceptual: Mapping | None = None,
        pixel_weight: float = 0.1,
        pyramid_loss_weight: float = 1.0,
        remove_pyramid_loss: int | None = 50000,
        removed_pyramid_weight: float = 0.0,
        gan_type: str = "wgan_softplus",
        gan_weight: float = 0.1,
        component_gan_type: str = "vanilla",
        component_gan_weight: float = 1.0,
        comp_style_weight: float = 200.0,
        identity_weight: float = 10.0,
        r1_reg_weight: float = 10.0,
        net_d_reg_every: int = 16,
        scale_d_lr_for_lazy_r1: bool = False,
        net_d_iters: int = 1,
        net_d_init_iters: int = 0,
        ema_decay: float = OFFICIAL_EMA_DECAY,
        eye_out_size: int | None = None,
        mouth_out_size: int | None = None,
        total_iter: int = 800000,
        channels_last: bool = False,
        seed: int | None = 0,
        out_size: int | None = None,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        # Networks given as modules (tests plugging in reference networks) are not hyper-parameters.
        arguments = dict(locals())
        self.save_hyperparameters(logger=False, ignore=[k for k, v in arguments.items() if isinstance(v, nn.Module)])
        # A generator given as a module has no config to store: checkpoints then carry net_g_config None.
        self.net_g_config = None if isinstance(net_g, nn.Module) else generator_config(_plain(net_g))

        self.net_g = _build(_plain(net_g), "net_g")
        self.net_g_ema = copy.deepcopy(self.net_g).requires_grad_(False).eval()
        self.net_d = _build(_plain(net_d), "net_d")
        component_configs = {"left_eye": net_d_left_eye, "right_eye": net_d_right_eye, "mouth": net_d_mouth}
        given = [name for name, cfg in component_configs.items() if cfg is not None]
        if given and len(given) != len(COMPONENTS):
            raise ValueError(f"model: give all three component discriminators or none; got only {given}")
        self.use_components = bool(given)
        if self.use_components:
            if optimizer_component is None:
                raise ValueError("model.optimizer_component is required when component discriminators are set")
            self.net_d_left_eye = _build(_plain(net_d_left_eye), "net_d_left_eye")
            self.net_d_right_eye = _build(_plain(net_d_right_eye), "net_d_right_eye")
            self.net_d_mouth = _build(_plain(net_d_mouth), "net_d_mouth")
        self.use_identity = net_identity is not None
        if self.use_identity:
            self.net_identity = _build(_plain(net_identity), "net_identity")
            self._load_identity(identity_load_path)
            self.net_identity.requires_grad_(False).eval()
        self.perceptual = _build(_plain(perceptual), "perceptual")
        if self.perceptual is not None:
            self.perceptual.requires_grad_(False)

        self.cri_gan = GANLoss(gan_type, loss_weight=gan_weight)
        self.cri_component = GANLoss(component_gan_type, loss_weight=component_gan_weight)
        if out_size is None and self.net_g_config is None:
            raise ValueError("model.out_size is required when net_g is given as a module")
        self.out_size = int(out_size or self.net_g_config["out_size"])
        self.log_size = int(math.log2(self.out_size))
        # BasicSR crops 80 (eyes) and 120 (mouth) px at 512; other sizes scale them linearly.
        self.eye_out_size = eye_out_size or max(1, round(80 * self.out_size / 512))
        self.mouth_out_size = mouth_out_size or max(1, round(120 * self.out_size / 512))

        self.iteration = 0
        self.rng = RNGStream(seed)
        self._iter_start: float | None = None
        if channels_last:
            self._to_channels_last()

    # ------------------------------------------------------------------ setup
    def _load_identity(self, path: str | None) -> None:
        if path is None:
            log.warning("net_identity: identity_load_path is null, ArcFace is RANDOMLY INITIALISED")
            return
        from facerevive.weights import load_checkpoint

        load_checkpoint(self.net_identity, path, key="params", strict=True)
        log.info("net_identity: loaded ArcFace from %s", path)

    def frozen_modules(self) -> list[nn.Module]:
        """Networks that never train: the EMA copy, ArcFace and the perceptual VGG."""
        frozen = [self.net_g_ema]
        if self.use_identity:
            frozen.append(self.net_identity)
        if self.perceptual is not None:
            frozen.append(self.perceptual)
        return frozen

    def train(self, mode: bool = True) -> GFPGANModule:
        """Lightning switches everything to train mode; the frozen networks stay in eval (BatchNorm, Dropout)."""
        super().train(mode)
        for module in self.frozen_modules():
            module.eval()
        return self

    def component_discriminators(self) -> dict[str, nn.Module]:
        if not self.use_components:
            return {}
        return {name: getattr(self, f"net_d_{name}") for name in COMPONENTS}

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        # Trainable generator parameters only: a frozen decoder takes no optimiser state.
        params_g = [p for p in self.net_g.parameters() if p.requires_grad]
        opt_g = instantiate(hp.optimizer_g, _convert_="all")(params=params_g)
        # Lazy R1 (StyleGAN2): D's betas are raised to the power reg_every / (reg_every + 1). The official
        # GFPGAN code also scales the optimiser's default lr, but its parameter group carries the unscaled lr,
        # which wins: D trains at the configured lr. `scale_d_lr_for_lazy_r1` applies the StyleGAN2 lr scaling.
        ratio = hp.net_d_reg_every / (hp.net_d_reg_every + 1)
        d_cfg = _plain(hp.optimizer_d)
        betas = [float(b) ** ratio for b in d_cfg.pop("betas", (0.0, 0.99))]
        if hp.scale_d_lr_for_lazy_r1:
            d_cfg["lr"] = float(d_cfg["lr"]) * ratio
        opt_d = instantiate(d_cfg, _convert_="all")(params=self.net_d.parameters(), betas=tuple(betas))
        optimizers = [opt_g, opt_d]
        for net in self.component_discriminators().values():
            optimizers.append(instantiate(hp.optimizer_component, _convert_="all")(params=net.parameters()))
        if hp.scheduler is None:
            return optimizers
        schedulers = [instantiate(hp.scheduler, _convert_="all")(optimizer=opt) for opt in optimizers]
        return optimizers, schedulers

    def _to_channels_last(self) -> None:
        """Store every 4-D weight channels-last (Module.to(memory_format=...) rejects the other ranks)."""
        with torch.no_grad():
            for tensor in [*self.parameters(), *self.buffers()]:
                if tensor.dim() == 4:
                    tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)

    # --------------------------------------------------------------- helpers
    def _memory_format(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.hparams.channels_last else x

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
        missing = [f"loc_{name}" for name in COMPONENTS if f"loc_{name}" not in batch]
        if missing:
            raise KeyError(
                f"the batch has no {missing}: component discriminators need the dataset's box file "
                "(data component_path), or use an experiment without components (gfpgan_v1_simple)"
            )
        return {name: batch[f"loc_{name}"] for name in COMPONENTS}

    def pyramid_weight(self, iteration: int) -> float:
        """Pyramid-loss weight at `iteration`: switched off (to `removed_pyramid_weight`) after the cut-off."""
        hp = self.hparams
        cutoff = hp.remove_pyramid_loss
        if hp.pyramid_loss_weight > 0 and cutoff is not None and iteration > cutoff:
            return hp.removed_pyramid_weight
        return hp.pyramid_loss_weight

    @contextmanager
    def _fp32(self):
        """Autocast off (for R1: gradient penalties are computed in full precision)."""
        with torch.autocast(device_type=self.device.type, enabled=False):
            yield

    # ---------------------------------------------------------------- training
    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        self.iteration += 1
        start = time.perf_counter()
        with self.rng.active(self.device, self.global_rank):
            losses = self.train_iteration(batch, self.iteration)
        schedulers = self.lr_schedulers()
        if schedulers is not None:
            for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
                scheduler.step()
        batch_size = batch["lq"].shape[0]
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, on_step=True, batch_size=batch_size)
        lrs = {"lr/g": self.optimizers()[0].param_groups[0]["lr"], "lr/d": self.optimizers()[1].param_groups[0]["lr"]}
        if self.use_components:
            lrs["lr/d_component"] = self.optimizers()[2].param_groups[0]["lr"]
        self.log_dict(lrs, on_step=True, batch_size=batch_size)
        self.log("train/iteration", float(self.iteration), on_step=True, batch_size=batch_size)
        self.log("train/iter_time", time.perf_counter() - start, on_step=True, batch_size=batch_size, prog_bar=True)
        self.last_losses = {k: float(v) for k, v in losses.items()}

    @property
    def training_finished(self) -> bool:
        """True once `total_iter` iterations have run (the module then stops the trainer)."""
        return self.iteration >= self.hparams.total_iter

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.training_finished:
            self.trainer.should_stop = True

    def train_iteration(self, batch: Mapping[str, Any], iteration: int) -> dict[str, torch.Tensor]:
        """One full GFPGAN iteration; returns every loss term (detached) by its official name."""
        hp = self.hparams
        optimizers = self.optimizers()
        opt_g, opt_d = optimizers[0], optimizers[1]
        opt_components = dict(zip(COMPONENTS, optimizers[2:]))
        lq, gt = self._memory_format(batch["lq"]), self._memory_format(batch["gt"])
        losses: dict[str, torch.Tensor] = {}
        discs = self.component_discriminators()

        # ---- generator
        pyramid_weight = self.pyramid_weight(iteration)
        with self.toggled_optimizer(opt_g):
            opt_g.zero_grad(set_to_none=True)
            output, out_rgbs = self.net_g(lq, return_rgb=pyramid_weight > 0)
            crops_fake = crops_real = None
            if self.use_components:
                boxes = self.batch_boxes(batch)
                crops_fake = self.component_crops(output, boxes)
                crops_real = self.component_crops(gt, boxes)
            if iteration % hp.net_d_iters == 0 and iteration > hp.net_d_init_iters:
                l_total = self._generator_losses(output, out_rgbs, gt, crops_fake, crops_real, pyramid_weight, losses)
                self.manual_backward(l_total)
                opt_g.step()

        # ---- EMA of the generator
        ema_update(self.net_g_ema, self.net_g, hp.ema_decay)

        # ---- global discriminator (+ lazy R1)
        with self.toggled_optimizer(opt_d):
            opt_d.zero_grad(set_to_none=True)
            for opt in opt_components.values():
                opt.zero_grad(set_to_none=True)
            fake_pred = self.net_d(output.detach())
            real_pred = self.net_d(gt)
            l_d = self.cri_gan(real_pred, True, is_disc=True) + self.cri_gan(fake_pred, False, is_disc=True)
            losses["l_d"] = l_d.detach()
            losses["real_score"] = real_pred.detach().mean()
            losses["fake_score"] = fake_pred.detach().mean()
            self.manual_backward(l_d)
            if iteration % hp.net_d_reg_every == 0:
                with self._fp32():
                    gt_r1 = gt.detach().float().requires_grad_(True)
                    real_pred_r1 = self.net_d(gt_r1)
                    l_r1 = r1_penalty(real_pred_r1, gt_r1)
                    # The zero term keeps D's output in the graph (DDP unused-parameter safety, as official).
                    l_r1 = hp.r1_reg_weight / 2 * l_r1 * hp.net_d_reg_every + 0 * real_pred_r1[0]
                losses["l_d_r1"] = l_r1.detach().mean()
                self.manual_backward(l_r1.sum())
            opt_d.step()

        # ---- facial-component discriminators
        if self.use_components:
            for name, net in discs.items():
                fake_pred, _ = net(crops_fake[name].detach())
                real_pred, _ = net(crops_real[name])
                l_comp = self.cri_component(real_pred, True, is_disc=True) + self.cri_gan(
                    fake_pred, False, is_disc=True
                )
                losses[f"l_d_{name}"] = l_comp.detach()
                self.manual_backward(l_comp)
            for name in COMPONENTS:
                opt_components[name].step()
        return losses

    def _generator_losses(
        self,
        output: torch.Tensor,
        out_rgbs: list[torch.Tensor],
        gt: torch.Tensor,
        crops_fake: dict[str, torch.Tensor] | None,
        crops_real: dict[str, torch.Tensor] | None,
        pyramid_weight: float,
        losses: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        hp = self.hparams
        terms: list[torch.Tensor] = []

        def add(name: str, value: torch.Tensor) -> None:
            terms.append(value)
            losses[name] = value.detach()

        if hp.pixel_weight > 0:
            add("l_g_pix", l1(output, gt) * hp.pixel_weight)
        if pyramid_weight > 0:
            for i, target in enumerate(image_pyramid(gt, self.log_size - 2)):
                add(f"l_p_{2 ** (i + 3)}", l1(out_rgbs[i], target) * pyramid_weight)
        if self.perceptual is not None:
            percep, style = self.perceptual(output, gt)
            if percep is not None:
                add("l_g_percep", percep)
            if style is not None:
                add("l_g_style", style)
        add("l_g_gan", self.cri_gan(self.net_d(output), True, is_disc=False))
        if self.use_components:
            fake_feats = {}
            for name, net in self.component_discriminators().items():
                pred, fake_feats[name] = net(crops_fake[name], return_feats=True)
                add(f"l_g_gan_{name}", self.cri_component(pred, True, is_disc=False))
            if hp.comp_style_weight > 0:
                style_total = 0
                for name, net in self.component_discriminators().items():
                    _, real_feats = net(crops_real[name], return_feats=True)
                    style_total = style_total + component_style_loss(fake_feats[name], real_feats)
                add("l_g_comp_style_loss", style_total * hp.comp_style_weight)
        if self.use_identity and hp.identity_weight > 0:
            identity_gt = self.net_identity(gray_for_identity(gt)).detach()
            identity_out = self.net_identity(gray_for_identity(output))
            add("l_identity", l1(identity_out, identity_gt) * hp.identity_weight)
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
        out01 = ((output.float() + 1) / 2).clamp(0, 1)
        gt01 = ((gt.float() + 1) / 2).clamp(0, 1)
        lq01 = ((batch["lq"].float() + 1) / 2).clamp(0, 1)
        mse = ((out01 - gt01) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
        metrics = {
            "val/psnr": (10 * torch.log10(1 / mse)).mean(),
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
        checkpoint["iteration"] = self.iteration
        checkpoint["net_g_config"] = copy.deepcopy(self.net_g_config)
        checkpoint["module_rng"] = self.rng.state_dict()
        # FaceRevive's training data does not use the global streams (see facerevive.data.sampler), but other
        # datasets, samplers and user code may: they are restored too.
        checkpoint["global_rng"] = global_rng_states()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "iteration" not in checkpoint:
            raise KeyError("checkpoint has no 'iteration': it was not written by GFPGANModule")
        self.iteration = int(checkpoint["iteration"])
        if "module_rng" in checkpoint:
            self.rng.load_state_dict(checkpoint["module_rng"])
        if "global_rng" in checkpoint:
            set_global_rng_states(checkpoint["global_rng"])

    def export_official(self) -> dict[str, Any]:
        """{'params', 'params_ema', 'net_g_config'}: the official GFPGAN file layout plus the generator config."""
        return {
            "params": {k: v.detach().cpu().clone() for k, v in self.net_g.state_dict().items()},
            "params_ema": {k: v.detach().cpu().clone() for k, v in self.net_g_ema.state_dict().items()},
            "net_g_config": copy.deepcopy(self.net_g_config),
            "iteration": self.iteration,
        }
