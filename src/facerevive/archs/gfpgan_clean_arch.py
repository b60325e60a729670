"""GFPGANv1Clean (the v1.2/v1.3/v1.4 release architecture) and its StyleGAN2GeneratorClean decoder.

Plain nn.Conv2d/nn.Linear layers (no equalized learning rate) and bilinear resampling: no custom ops.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from facerevive.archs.config import records_config
from facerevive.archs.equalized import NormStyleCode
from facerevive.archs.gfpgan_arch import GFPGANBase, UNetLayers
from facerevive.archs.modconv import demodulation
from facerevive.archs.stylegan2_arch import StyleGAN2Synthesis, stylegan2_channels


def kaiming_init_(module: nn.Module, bias_fill: float, a: float, nonlinearity: Literal["linear", "leaky_relu"]) -> None:
    """Kaiming-normal (fan_in) init of every Linear/Conv2d in `module`, biases filled with `bias_fill`."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(m.weight, a=a, mode="fan_in", nonlinearity=nonlinearity)
            if m.bias is not None:
                m.bias.data.fill_(bias_fill)


def _upsample2x(x: torch.Tensor, scale_factor: float = 2) -> torch.Tensor:
    return F.interpolate(x, scale_factor=scale_factor, mode="bilinear", align_corners=False)


class ModulatedConv2dClean(nn.Module):
    """Modulated conv without equalized lr; resampling is bilinear interpolation of the input."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_style_feat: int,
        demodulate: bool = True,
        sample_mode: str | None = None,
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.demodulate = demodulate
        self.sample_mode = sample_mode
        self.eps = eps
        self.modulation = nn.Linear(num_style_feat, in_channels, bias=True)
        kaiming_init_(self.modulation, bias_fill=1, a=0, nonlinearity="linear")
        self.weight = nn.Parameter(
            torch.randn(1, out_channels, in_channels, kernel_size, kernel_size)
            / math.sqrt(in_channels * kernel_size**2)
        )
        self.padding = kernel_size // 2
        # "grouped" (official) or "activation" (see facerevive.archs.modconv); not part of the weights.
        self.modconv_form = "grouped"

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if self.modconv_form == "activation":
            return self._forward_activation(x, style)
        b, c = x.shape[:2]
        k = self.kernel_size
        weight = self.weight * self.modulation(style).view(b, 1, c, 1, 1)
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + self.eps)
            weight = weight * demod.view(b, self.out_channels, 1, 1, 1)
        weight = weight.view(b * self.out_channels, c, k, k)
        if self.sample_mode == "upsample":
            x = _upsample2x(x, 2)
        elif self.sample_mode == "downsample":
            x = _upsample2x(x, 0.5)
        out = F.conv2d(x.reshape(1, b * c, *x.shape[2:]), weight, padding=self.padding, groups=b)
        return out.reshape(b, self.out_channels, *out.shape[2:])

    def _forward_activation(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Style on the input channels, the static weight, demodulation on the output channels."""
        style = self.modulation(style)
        weight = self.weight[0]
        x = x * style[:, :, None, None]
        if self.sample_mode == "upsample":
            x = _upsample2x(x, 2)
        elif self.sample_mode == "downsample":
            x = _upsample2x(x, 0.5)
        out = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            out = out * demodulation(weight, style, self.eps)[:, :, None, None]
        return out


class StyleConvClean(nn.Module):
    """Modulated conv (x sqrt 2, from the conversion of equalized weights) + noise + bias + leaky ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_style_feat: int,
        demodulate: bool = True,
        sample_mode: str | None = None,
    ) -> None:
        super().__init__()
        self.modulated_conv = ModulatedConv2dClean(
            in_channels,
            out_channels,
            kernel_size,
            num_style_feat,
            demodulate=demodulate,
            sample_mode=sample_mode,
        )
        self.weight = nn.Parameter(torch.zeros(1))
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        out = self.modulated_conv(x, style) * 2**0.5
        if noise is None:
            b, _, h, w = out.shape
            noise = out.new_empty(b, 1, h, w).normal_()
        out = out + self.weight * noise
        out = out + self.bias
        return F.leaky_relu(out, 0.2)


class ToRGBClean(nn.Module):
    """1x1 modulated conv to RGB plus the bilinearly upsampled skip."""

    def __init__(self, in_channels: int, num_style_feat: int, upsample: bool = True) -> None:
        super().__init__()
        self.upsample = upsample
        self.modulated_conv = ModulatedConv2dClean(in_channels, 3, 1, num_style_feat, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out: torch.Tensor = self.modulated_conv(x, style) + self.bias
        if skip is not None:
            out = out + (_upsample2x(skip) if self.upsample else skip)
        return out


@records_config
class StyleGAN2GeneratorClean(StyleGAN2Synthesis):
    """StyleGAN2 generator built from plain layers (the decoder of GFPGAN v1.2-v1.4)."""

    def __init__(
        self,
        out_size: int,
        num_style_feat: int = 512,
        num_mlp: int = 8,
        channel_multiplier: float = 2,
        narrow: float = 1,
        sft_half: bool = False,
    ) -> None:
        super().__init__()
        self._init_synthesis(out_size, num_style_feat, sft_half)
        mlp: list[nn.Module] = [NormStyleCode()]
        for _ in range(num_mlp):
            mlp += [nn.Linear(num_style_feat, num_style_feat, bias=True), nn.LeakyReLU(0.2, inplace=True)]
        self.style_mlp = nn.Sequential(*mlp)
        kaiming_init_(self.style_mlp, bias_fill=0, a=0.2, nonlinearity="leaky_relu")
        self._build_synthesis(
            stylegan2_channels(channel_multiplier, narrow),
            lambda c_in, c_out, mode: StyleConvClean(c_in, c_out, 3, num_style_feat, sample_mode=mode),
            lambda c_in, upsample: ToRGBClean(c_in, num_style_feat, upsample=upsample),
        )


class ResBlockClean(nn.Module):
    """conv-lrelu-resample-conv-lrelu plus a resampled 1x1 skip (no 1/sqrt 2)."""

    def __init__(self, in_channels: int, out_channels: int, mode: str = "down") -> None:
        super().__init__()
        if mode not in ("down", "up"):
            raise ValueError(f"mode must be 'down' or 'up', got {mode!r}")
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.scale_factor = 0.5 if mode == "down" else 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.conv1(x), 0.2)
        out = _upsample2x(out, self.scale_factor)
        out = F.leaky_relu(self.conv2(out), 0.2)
        skip: torch.Tensor = self.skip(_upsample2x(x, self.scale_factor))
        return out + skip


def _clean_condition_head(channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, 1, 1),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(channels, out_channels, 3, 1, 1),
    )


@records_config
class GFPGANv1Clean(GFPGANBase):
    """GFPGAN in plain layers: the architecture of the v1.2, v1.3 and v1.4 releases."""

    def __init__(
        self,
        out_size: int,
        num_style_feat: int = 512,
        channel_multiplier: float = 1,
        decoder_load_path: None = None,
        fix_decoder: bool = True,
        num_mlp: int = 8,
        input_is_latent: bool = False,
        different_w: bool = False,
        narrow: float = 1,
        sft_half: bool = False,
    ) -> None:
        super().__init__()
        self._init_common(out_size, num_style_feat, input_is_latent, different_w)
        channels = stylegan2_channels(channel_multiplier, narrow * 0.5)
        layers = UNetLayers(
            first=lambda c_in, c_out: nn.Conv2d(c_in, c_out, 1),
            down=functools.partial(ResBlockClean, mode="down"),
            final=lambda c_in, c_out: nn.Conv2d(c_in, c_out, 3, 1, 1),
            up=functools.partial(ResBlockClean, mode="up"),
            to_rgb=lambda c_in: nn.Conv2d(c_in, 3, 1),
            linear=nn.Linear,
            scale_head=_clean_condition_head,
            shift_head=_clean_condition_head,
        )
        self._build_unet(channels, layers)
        self.stylegan_decoder = StyleGAN2GeneratorClean(
            out_size=out_size,
            num_style_feat=num_style_feat,
            num_mlp=num_mlp,
            channel_multiplier=channel_multiplier,
            narrow=narrow,
            sft_half=sft_half,
        )
        self._setup_decoder(decoder_load_path, fix_decoder)
        self._build_condition_heads(channels, sft_half, layers)

    def encode_first(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv_body_first(x), 0.2)

    def encode_final(self, feat: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.final_conv(feat), 0.2)
