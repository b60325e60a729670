"""StyleGAN2 generators (equalized-lr 'v1' and bilinear variants) and the StyleGAN2 discriminator.

The generators take optional CS-SFT `conditions` from the GFPGAN U-Net; without them they are plain StyleGAN2.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import TypedDict

import torch
from torch import nn

from facerevive.archs.config import records_config
from facerevive.archs.equalized import (
    ConstantInput,
    ConvLayer,
    EqualLinear,
    NormStyleCode,
    Resample,
    ResBlock,
    StyleConv,
    ToRGB,
)


class _ResampleArgs(TypedDict):
    """Resampling arguments that every StyleConv and ToRGB of one generator shares."""

    resample_kernel: Sequence[int]
    resample: Resample


# The resampling of StyleGAN2GeneratorBilinear (plain interpolation).
INTERPOLATION_MODES = ("bilinear", "nearest")


def stylegan2_channels(channel_multiplier: float = 2, narrow: float = 1) -> dict[int, int]:
    """Feature widths per resolution of StyleGAN2 (and, with narrow*0.5, of the GFPGAN U-Net)."""
    wide = {4: 512, 8: 512, 16: 512, 32: 512}
    scaled = {64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
    channels = {res: int(width * narrow) for res, width in wide.items()}
    channels.update({res: int(width * channel_multiplier * narrow) for res, width in scaled.items()})
    return channels


def log2_size(out_size: int) -> int:
    """log2 of a power-of-two output size, with a clear error otherwise."""
    log_size = int(math.log(out_size, 2))
    if 2**log_size != out_size or out_size < 8:
        raise ValueError(f"out_size must be a power of two >= 8, got {out_size}")
    return log_size


def apply_sft(
    feat: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, sft_half: bool, fidelity: float = 1.0
) -> torch.Tensor:
    """Spatial feature transform; with `sft_half` only the second half of the channels is modulated (CS-SFT).

    `fidelity` blends the transform towards identity: 1 is the trained network, 0 leaves the prior untouched.
    """
    if fidelity != 1.0:
        scale = 1 + fidelity * (scale - 1)
        shift = fidelity * shift
    if not sft_half:
        return feat * scale + shift
    same, modulated = torch.split(feat, feat.size(1) // 2, dim=1)
    return torch.cat([same, modulated * scale + shift], dim=1)


class StyleGAN2Synthesis(nn.Module):
    """Mapping + synthesis forward shared by every StyleGAN2 generator flavour.

    Subclasses build `style_mlp`, `constant_input`, `style_conv1`, `to_rgb1`, `style_convs`, `to_rgbs`
    and the registered noise buffers `noises.noise{i}`.
    """

    num_style_feat: int
    out_size: int
    log_size: int
    sft_half: bool
    style_mlp: nn.Sequential
    constant_input: ConstantInput
    style_conv1: nn.Module
    to_rgb1: nn.Module
    style_convs: nn.ModuleList
    to_rgbs: nn.ModuleList

    def _init_synthesis(self, out_size: int, num_style_feat: int, sft_half: bool) -> None:
        self.num_style_feat = num_style_feat
        self.sft_half = sft_half
        self.out_size = out_size
        self.log_size = log2_size(out_size)

    def _build_synthesis(
        self,
        channels: dict[int, int],
        style_conv: Callable[[int, int, str | None], nn.Module],
        to_rgb: Callable[[int, bool], nn.Module],
    ) -> None:
        """The synthesis layers of every flavour, in the official construction order (the random initialisation
        draws in that order): `style_conv(in, out, sample_mode)` and `to_rgb(channels, upsample)` make the
        flavour's layers."""
        self.channels = channels
        self.constant_input = ConstantInput(channels[4], size=4)
        self.style_conv1 = style_conv(channels[4], channels[4], None)
        self.to_rgb1 = to_rgb(channels[4], False)
        self._register_noises()
        self.style_convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_channels = channels[4]
        for i in range(3, self.log_size + 1):
            out_channels = channels[2**i]
            self.style_convs.append(style_conv(in_channels, out_channels, "upsample"))
            self.style_convs.append(style_conv(out_channels, out_channels, None))
            self.to_rgbs.append(to_rgb(out_channels, True))
            in_channels = out_channels

    def _register_noises(self) -> None:
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.num_latent = self.log_size * 2 - 2
        self.noises = nn.Module()
        for layer_idx in range(self.num_layers):
            resolution = 2 ** ((layer_idx + 5) // 2)
            self.noises.register_buffer(f"noise{layer_idx}", torch.randn(1, 1, resolution, resolution))

    def make_noise(self) -> list[torch.Tensor]:
        """Fresh noise maps, one per style conv."""
        device = self.constant_input.weight.device
        noises = [torch.randn(1, 1, 4, 4, device=device)]
        for i in range(3, self.log_size + 1):
            noises.extend(torch.randn(1, 1, 2**i, 2**i, device=device) for _ in range(2))
        return noises

    def get_latent(self, x: torch.Tensor) -> torch.Tensor:
        latent: torch.Tensor = self.style_mlp(x)
        return latent

    def mean_latent(self, num_latent: int) -> torch.Tensor:
        latent_in = torch.randn(num_latent, self.num_style_feat, device=self.constant_input.weight.device)
        latents: torch.Tensor = self.style_mlp(latent_in)
        return latents.mean(0, keepdim=True)

    def _latent_codes(
        self,
        styles: Sequence[torch.Tensor],
        input_is_latent: bool,
        truncation: float,
        truncation_latent: torch.Tensor | None,
        inject_index: int | None,
    ) -> torch.Tensor:
        if not input_is_latent:
            styles = [self.style_mlp(s) for s in styles]
        if truncation < 1:
            if truncation_latent is None:
                raise ValueError("truncation < 1 needs a truncation_latent (e.g. from mean_latent)")
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]
        if len(styles) == 1:
            if styles[0].ndim < 3:
                return styles[0].unsqueeze(1).repeat(1, self.num_latent, 1)
            return styles[0]
        if len(styles) != 2:
            raise ValueError(f"expected one style or two (style mixing), got {len(styles)}")
        if inject_index is None:
            inject_index = random.randint(1, self.num_latent - 1)
        first = styles[0].unsqueeze(1).repeat(1, inject_index, 1)
        second = styles[1].unsqueeze(1).repeat(1, self.num_latent - inject_index, 1)
        return torch.cat([first, second], 1)

    def forward(
        self,
        styles: Sequence[torch.Tensor],
        input_is_latent: bool = False,
        noise: Sequence[torch.Tensor | None] | None = None,
        randomize_noise: bool = True,
        truncation: float = 1,
        truncation_latent: torch.Tensor | None = None,
        inject_index: int | None = None,
        return_latents: bool = False,
        *,
        conditions: Sequence[torch.Tensor] | None = None,
        fidelity: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Synthesise images from style codes (a list of one code, or two for style mixing).

        `conditions` is GFPGAN's list [scale_8, shift_8, scale_16, shift_16, ...]; each pair modulates the
        output of the upsampling conv at its resolution.
        """
        latent = self._latent_codes(styles, input_is_latent, truncation, truncation_latent, inject_index)
        if noise is None:
            if randomize_noise:
                noise = [None] * self.num_layers
            else:
                noise = [getattr(self.noises, f"noise{i}") for i in range(self.num_layers)]
        conditions = conditions or []

        out: torch.Tensor = self.constant_input(latent.shape[0])
        out = self.style_conv1(out, latent[:, 0], noise=noise[0])
        skip: torch.Tensor = self.to_rgb1(out, latent[:, 1])
        i = 1
        for conv1, conv2, noise1, noise2, to_rgb in zip(
            self.style_convs[::2], self.style_convs[1::2], noise[1::2], noise[2::2], self.to_rgbs
        ):
            out = conv1(out, latent[:, i], noise=noise1)
            if i < len(conditions):
                out = apply_sft(out, conditions[i - 1], conditions[i], self.sft_half, fidelity)
            out = conv2(out, latent[:, i + 1], noise=noise2)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip, (latent if return_latents else None)


@records_config
class StyleGAN2Generator(StyleGAN2Synthesis):
    """StyleGAN2 generator with equalized learning rate and FIR (or bilinear) resampling (BasicSR layout)."""

    def __init__(
        self,
        out_size: int,
        num_style_feat: int = 512,
        num_mlp: int = 8,
        channel_multiplier: float = 2,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
        lr_mlp: float = 0.01,
        narrow: float = 1,
        sft_half: bool = False,
        resample: Resample = "upfirdn",
    ) -> None:
        super().__init__()
        self._init_synthesis(out_size, num_style_feat, sft_half)
        self.style_mlp = nn.Sequential(
            NormStyleCode(),
            *(
                EqualLinear(num_style_feat, num_style_feat, lr_mul=lr_mlp, activation="fused_lrelu")
                for _ in range(num_mlp)
            ),
        )
        resampling: _ResampleArgs = {"resample_kernel": resample_kernel, "resample": resample}
        self._build_synthesis(
            stylegan2_channels(channel_multiplier, narrow),
            lambda c_in, c_out, mode: StyleConv(c_in, c_out, 3, num_style_feat, sample_mode=mode, **resampling),
            lambda c_in, upsample: ToRGB(c_in, num_style_feat, upsample=upsample, **resampling),
        )


@records_config
class StyleGAN2GeneratorBilinear(StyleGAN2Generator):
    """StyleGAN2 generator whose resampling is plain interpolation (the decoder of GFPGANBilinear)."""

    def __init__(
        self,
        out_size: int,
        num_style_feat: int = 512,
        num_mlp: int = 8,
        channel_multiplier: float = 2,
        lr_mlp: float = 0.01,
        narrow: float = 1,
        interpolation_mode: str = "bilinear",
        sft_half: bool = False,
    ) -> None:
        if interpolation_mode not in INTERPOLATION_MODES:
            raise ValueError(f"interpolation_mode must be 'bilinear' or 'nearest', got {interpolation_mode!r}")
        super().__init__(
            out_size,
            num_style_feat=num_style_feat,
            num_mlp=num_mlp,
            channel_multiplier=channel_multiplier,
            lr_mlp=lr_mlp,
            narrow=narrow,
            sft_half=sft_half,
            resample=interpolation_mode,  # type: ignore[arg-type]
        )


@records_config
class StyleGAN2Discriminator(nn.Module):
    """StyleGAN2 residual discriminator with minibatch standard deviation (BasicSR layout)."""

    def __init__(
        self,
        out_size: int,
        channel_multiplier: float = 2,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
        stddev_group: int = 4,
        narrow: float = 1,
    ) -> None:
        super().__init__()
        channels = stylegan2_channels(channel_multiplier, narrow)
        log_size = log2_size(out_size)
        conv_body: list[nn.Module] = [ConvLayer(3, channels[out_size], 1, bias=True, activate=True)]
        in_channels = channels[out_size]
        for i in range(log_size, 2, -1):
            out_channels = channels[2 ** (i - 1)]
            conv_body.append(ResBlock(in_channels, out_channels, resample_kernel))
            in_channels = out_channels
        self.conv_body = nn.Sequential(*conv_body)
        self.final_conv = ConvLayer(in_channels + 1, channels[4], 3, bias=True, activate=True)
        self.final_linear = nn.Sequential(
            EqualLinear(channels[4] * 4 * 4, channels[4], activation="fused_lrelu"),
            EqualLinear(channels[4], 1),
        )
        self.stddev_group = stddev_group
        self.stddev_feat = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_body(x)
        b, c, h, w = out.shape
        group = min(b, self.stddev_group)
        if b % group:
            raise ValueError(f"batch size {b} must be divisible by the stddev group {group}")
        stddev = out.reshape(group, -1, self.stddev_feat, c // self.stddev_feat, h, w)
        stddev = torch.sqrt(stddev.var(0, unbiased=False) + 1e-8)
        stddev = stddev.mean([2, 3, 4], keepdim=True).squeeze(2)
        stddev = stddev.repeat(group, 1, h, w)
        out = self.final_conv(torch.cat([out, stddev], 1))
        logits: torch.Tensor = self.final_linear(out.reshape(b, -1))
        return logits
