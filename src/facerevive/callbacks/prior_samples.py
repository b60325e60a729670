"""Samples and FID of a StyleGAN2 prior during training: fixed-latent grids, a truncation strip, FID.

BasicSR's prior training saves 16 samples from fixed latents every 5k iterations and computes no FID; its FID
script runs afterwards on a saved network. Here both happen during training, from `net_g_ema`:

- every `every_n_iter` iterations: `samples_<N>.png` (the fixed latents) and `truncation_<N>.png` (rows of
  fixed latents, columns truncation psi = `truncation_psis` towards the mean latent), in the run directory and to
  the W&B / TensorBoard loggers at step = iteration. The latents are drawn once from `seed` and saved in the
  checkpoint with the seed, so a resumed run shows the same faces. Noise maps are the generator's stored ones.
- every `fid_every_n_iter` iterations: FID of `fid_num_samples` samples (fixed latents from `seed`, fresh noise
  maps from a fixed seed; nothing touches the training streams) against the reference statistics `fid_stats`
  with `facerevive.metrics.fid`, logged as `fid/fid`. When the Inception weights or the statistics are absent
  it says once "FID not computed: <reason>" and never reports a number.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_only
from torchvision.utils import make_grid

from facerevive.archs.stylegan2_arch import StyleGAN2Synthesis
from facerevive.callbacks.image_grid import PADDING, ImageGridCallback, label_strip
from facerevive.metrics.assets import MissingWeightsError
from facerevive.metrics.fid import FIDInception, FIDStats, frechet_distance
from facerevive.utils.images import signed_to_unit
from facerevive.weights.hint import weights_command

log = logging.getLogger(__name__)


def _unit(images: torch.Tensor) -> torch.Tensor:
    return signed_to_unit(images.float().cpu()).clamp(0, 1)


def psi_label(psi: float) -> str:
    """A column's truncation label, 'psi 0.8' (spelled out: the grid's bundled font has no Greek letters)."""
    return f"psi {psi:g}"


def with_labels(grid: torch.Tensor, labels: list[str], tile: int) -> torch.Tensor:
    """`grid` (3, H, W) with a white strip on top: each label over its column of `tile` px (one label: centred)."""
    width = grid.shape[-1]
    column = tile if len(labels) > 1 else width - 2 * PADDING
    return torch.cat([label_strip(labels, column, width), grid], dim=1)


class PriorSamplesCallback(ImageGridCallback):
    """Sample grids, a truncation strip and FID of the module's `net_g_ema` (a StyleGAN2Module).

    An ImageGridCallback (same `dirpath`, `every_n_iter`, `saved`), so the run summary lists its PNG files;
    `max_images` is the number of fixed-latent samples in the grid.
    """

    def __init__(
        self,
        dirpath: str | Path,
        every_n_iter: int = 5000,
        max_images: int = 16,
        truncation_psis: Sequence[float] = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0),
        truncation_rows: int = 4,
        mean_latent_samples: int = 4096,
        seed: int = 0,
        fid_every_n_iter: int | None = None,
        fid_num_samples: int = 10000,
        fid_batch_size: int = 16,
        fid_stats: str = "ffhq_fid_stats",
        fid_inception: str = "fid_inception",
    ) -> None:
        super().__init__(dirpath, every_n_iter=every_n_iter, max_images=max_images)
        if fid_every_n_iter is not None and fid_every_n_iter < 1:
            raise ValueError(f"fid_every_n_iter must be >= 1 or null (no FID), got {fid_every_n_iter}")
        if any(not 0 <= psi <= 1 for psi in truncation_psis):
            raise ValueError(f"truncation_psis must lie in [0, 1], got {list(truncation_psis)}")
        self.truncation_psis = [float(psi) for psi in truncation_psis]
        self.truncation_rows = truncation_rows
        self.mean_latent_samples = mean_latent_samples
        self.seed = seed
        self.fid_every_n_iter = fid_every_n_iter
        self.fid_num_samples = fid_num_samples
        self.fid_batch_size = fid_batch_size
        self.fid_stats = fid_stats
        self.fid_inception = fid_inception
        self.latents: torch.Tensor | None = None
        self.fid_unavailable: str | None = None
        self.last_fid: float | None = None
        self._fid_model: FIDInception | None = None
        self._fid_reference: FIDStats | None = None

    # ------------------------------------------------------------ latents
    def fixed_latents(self, num_style_feat: int) -> torch.Tensor:
        """The grid's and the strip's latent codes (max_images + truncation_rows), drawn once from `seed`."""
        if self.latents is None:
            generator = torch.Generator().manual_seed(self.seed)
            self.latents = torch.randn(self.max_images + self.truncation_rows, num_style_feat, generator=generator)
        if self.latents.shape[1] != num_style_feat:
            raise ValueError(
                f"the saved sample latents have {self.latents.shape[1]} features, the generator {num_style_feat}"
            )
        return self.latents

    def state_dict(self) -> dict[str, Any]:
        # The seed too: it also draws the mean latent of the strip and the FID samples.
        return {"latents": self.latents, "seed": self.seed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.latents = state_dict.get("latents")
        self.seed = int(state_dict.get("seed", self.seed))

    # ------------------------------------------------------------ images
    @torch.no_grad()
    def sample_grids(self, net: StyleGAN2Synthesis, device: torch.device) -> dict[str, torch.Tensor]:
        """{'samples': grid of the fixed latents, 'truncation': rows of latents x truncation psi}, (3,H,W) in [0,1],
        each under a label strip naming its psi (a column's psi over each column of the truncation grid)."""
        num_style_feat = net.num_style_feat
        latents = self.fixed_latents(num_style_feat).to(device)
        grid_z, strip_z = latents[: self.max_images], latents[self.max_images :]
        samples, _ = net([grid_z], randomize_noise=False)
        tile = samples.shape[-1]
        grid = make_grid(_unit(samples), nrow=math.ceil(math.sqrt(len(grid_z))), padding=PADDING)
        grids = {"samples": with_labels(grid, [f"fixed latents, {psi_label(1.0)} (no truncation)"], tile)}
        if len(strip_z):
            generator = torch.Generator().manual_seed(self.seed + 1)
            mean_z = torch.randn(self.mean_latent_samples, num_style_feat, generator=generator).to(device)
            mean_w = net.get_latent(mean_z).mean(0, keepdim=True)
            columns = [
                net([strip_z], randomize_noise=False, truncation=psi, truncation_latent=mean_w)[0]
                for psi in self.truncation_psis
            ]
            strip = torch.stack(columns, dim=1).flatten(0, 1)
            grid = make_grid(_unit(strip), nrow=len(self.truncation_psis), padding=PADDING)
            grids["truncation"] = with_labels(grid, [psi_label(psi) for psi in self.truncation_psis], tile)
        return grids

    @rank_zero_only
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        module: Any = pl_module  # a StyleGAN2Module: iteration, net_g_ema
        iteration = int(module.iteration)
        if iteration % self.every_n_iter == 0:
            grids = self.sample_grids(module.net_g_ema, pl_module.device)
            self.write_grids(trainer, grids, iteration, "prior")
        if self.fid_every_n_iter is not None and iteration % self.fid_every_n_iter == 0:
            fid = self.fid(module.net_g_ema, pl_module.device)
            if fid is not None:
                for logger in trainer.loggers:
                    logger.log_metrics({"fid/fid": fid}, step=iteration)
                log.info("iteration %d: FID %.3f (%d samples)", iteration, fid, self.fid_num_samples)

    # ------------------------------------------------------------ FID
    def _fid_setup(self, device: torch.device) -> bool:
        """Load the Inception network and the reference statistics once; False (said once) when one is absent."""
        if self.fid_unavailable is not None:
            return False
        if self._fid_model is None or self._fid_reference is None:
            reasons = []
            try:
                self._fid_reference = FIDStats.load(self.fid_stats)
            except MissingWeightsError as exc:
                reasons.append(f"reference statistics {exc.filename} missing")
            try:
                self._fid_model = FIDInception.from_file(self.fid_inception)
            except MissingWeightsError as exc:
                reasons.append(f"Inception weights {exc.filename} missing")
            if reasons:
                self.fid_unavailable = (
                    f"FID not computed: {'; '.join(reasons)} ({weights_command()}, or give the files as "
                    "callbacks.prior_samples.fid_stats / fid_inception)"
                )
                log.warning(self.fid_unavailable)
                return False
        assert self._fid_model is not None
        self._fid_model.to(device)
        return True

    @torch.no_grad()
    def fid(self, net: StyleGAN2Synthesis, device: torch.device) -> float | None:
        """FID of `fid_num_samples` samples of `net` against `fid_stats`; None when it cannot be computed.

        Runs on forked RNG states (building the Inception network and the noise maps draw from the global
        streams), so the training streams stay untouched and the noise maps are the same at every evaluation.
        """
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if not self._fid_setup(device):
                return None
            assert self._fid_model is not None and self._fid_reference is not None
            torch.manual_seed(self.seed + 3)
            generator = torch.Generator().manual_seed(self.seed + 2)
            features = []
            for start in range(0, self.fid_num_samples, self.fid_batch_size):
                count = min(self.fid_batch_size, self.fid_num_samples - start)
                z = torch.randn(count, net.num_style_feat, generator=generator).to(device)
                images, _ = net([z])
                unit = signed_to_unit(images.float()).clamp(0, 1)
                features.append(self._fid_model(unit).double().cpu().numpy())
        stats = FIDStats.from_features(np.concatenate(features))
        self.last_fid = frechet_distance(stats, self._fid_reference)
        return self.last_fid
