"""Equalized-learning-rate StyleGAN2 layers (the layers of GFPGANv1, GFPGANBilinear and the discriminators).

Weights are stored at unit variance and scaled at run time by 1/sqrt(fan_in) (times `lr_mul`), so Adam sees
every layer at the same scale. Parameter names follow BasicSR so official checkpoints load unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from facerevive.archs.modconv import demodulation
from facerevive.archs.ops import (
    FusedLeakyReLU,
    ScaledLeakyReLU,
    UpFirDnSmooth,
    UpFirDnUpsample,
    fused_leaky_relu,
)

Resample = Literal["upfirdn", "bilinear", "nearest"]


def _interpolate(x: torch.Tensor, scale_factor: float, mode: str) -> torch.Tensor:
    align_corners = None if mode == "nearest" else False
    return F.interpolate(x, scale_factor=scale_factor, mode=mode, align_corners=align_corners)


class NormStyleCode(nn.Module):
    """Pixel norm of the input style code."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x**2, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate and an optional fused leaky ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        bias: bool = True,
        bias_init_val: float = 0.0,
        lr_mul: float = 1.0,
        activation: str | None = None,
    ) -> None:
        super().__init__()
        if activation not in ("fused_lrelu", None):
            raise ValueError(f"EqualLinear activation must be 'fused_lrelu' or None, got {activation!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.lr_mul = lr_mul
        self.activation = activation
        self.scale = lr_mul / math.sqrt(in_channels)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_channels,), float(bias_init_val))) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias * self.lr_mul
        if self.activation == "fused_lrelu":
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias=bias)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, bias={self.bias is not None}, lr_mul={self.lr_mul}"


class EqualConv2d(nn.Module):
    """Conv2d with equalized learning rate."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        bias_init_val: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.full((out_channels,), float(bias_init_val))) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, bias=self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"
        )


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution (no bias), with optional 2x up- or down-sampling.

    `resample='upfirdn'` is the paper's transposed/strided conv with FIR blur; 'bilinear'/'nearest'
    interpolate the input first (the GFPGANBilinear variant).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_style_feat: int,
        demodulate: bool = True,
        sample_mode: str | None = None,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
        eps: float = 1e-8,
        resample: Resample = "upfirdn",
    ) -> None:
        super().__init__()
        if sample_mode not in ("upsample", "downsample", None):
            raise ValueError(f"sample_mode must be 'upsample', 'downsample' or None, got {sample_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.demodulate = demodulate
        self.sample_mode = sample_mode
        self.eps = eps
        self.resample = resample
        if sample_mode is not None and resample == "upfirdn":
            factors = (2, 1) if sample_mode == "upsample" else (1, 2)
            self.smooth = UpFirDnSmooth(resample_kernel, *factors, kernel_size=kernel_size)
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.modulation = EqualLinear(num_style_feat, in_channels, bias=True, bias_init_val=1)
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.padding = kernel_size // 2
        # "grouped" (official) or "activation" (see facerevive.archs.modconv); not part of the weights.
        self.modconv_form = "grouped"

    def modulated_weight(self, style: torch.Tensor) -> torch.Tensor:
        """Per-sample weights (b, c_out, c_in, k, k), demodulated when configured."""
        style = self.modulation(style).view(style.shape[0], 1, self.in_channels, 1, 1)
        weight = self.scale * self.weight * style
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + self.eps)
            weight = weight * demod.view(style.shape[0], self.out_channels, 1, 1, 1)
        return weight

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if self.modconv_form == "activation":
            return self._forward_activation(x, style)
        b, c, h, w = x.shape
        k = self.kernel_size
        weight = self.modulated_weight(style)
        if self.sample_mode == "upsample" and self.resample == "upfirdn":
            weight = weight.transpose(1, 2).reshape(b * c, self.out_channels, k, k)
            out = F.conv_transpose2d(x.reshape(1, b * c, h, w), weight, stride=2, groups=b)
            smoothed: torch.Tensor = self.smooth(out.reshape(b, self.out_channels, *out.shape[2:]))
            return smoothed
        weight = weight.reshape(b * self.out_channels, c, k, k)
        if self.sample_mode == "downsample" and self.resample == "upfirdn":
            x = self.smooth(x)
            out = F.conv2d(x.reshape(1, b * c, *x.shape[2:]), weight, stride=2, groups=b)
        else:
            if self.sample_mode is not None:
                x = _interpolate(x, 2 if self.sample_mode == "upsample" else 0.5, self.resample)
            out = F.conv2d(x.reshape(1, b * c, *x.shape[2:]), weight, padding=self.padding, groups=b)
        return out.reshape(b, self.out_channels, *out.shape[2:])

    def _forward_activation(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Style on the input channels, the static weight, demodulation on the output channels (the FIR blur
        and the interpolation are per channel, so they commute with both scalings)."""
        style = self.modulation(style)
        weight = self.scale * self.weight[0]
        x = x * style[:, :, None, None]
        upfirdn = self.resample == "upfirdn"
        if self.sample_mode == "upsample" and upfirdn:
            out = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
        elif self.sample_mode == "downsample" and upfirdn:
            out = F.conv2d(self.smooth(x), weight, stride=2)
        else:
            if self.sample_mode is not None:
                x = _interpolate(x, 2 if self.sample_mode == "upsample" else 0.5, self.resample)
            out = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            out = out * demodulation(weight, style, self.eps)[:, :, None, None]
        if self.sample_mode == "upsample" and upfirdn:
            smoothed: torch.Tensor = self.smooth(out)
            return smoothed
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"demodulate={self.demodulate}, sample_mode={self.sample_mode}, resample={self.resample}"
        )


class StyleConv(nn.Module):
    """Modulated conv + per-pixel noise + fused bias/leaky ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_style_feat: int,
        demodulate: bool = True,
        sample_mode: str | None = None,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
        resample: Resample = "upfirdn",
    ) -> None:
        super().__init__()
        self.modulated_conv = ModulatedConv2d(
            in_channels,
            out_channels,
            kernel_size,
            num_style_feat,
            demodulate=demodulate,
            sample_mode=sample_mode,
            resample_kernel=resample_kernel,
            resample=resample,
        )
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        out = self.modulated_conv(x, style)
        if noise is None:
            b, _, h, w = out.shape
            noise = out.new_empty(b, 1, h, w).normal_()
        activated: torch.Tensor = self.activate(out + self.weight * noise)
        return activated


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB (no demodulation), added to the upsampled RGB skip."""

    def __init__(
        self,
        in_channels: int,
        num_style_feat: int,
        upsample: bool = True,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
        resample: Resample = "upfirdn",
    ) -> None:
        super().__init__()
        self.resample = resample
        self.upsample = upsample
        if upsample and resample == "upfirdn":
            self.fir_upsample = UpFirDnUpsample(resample_kernel, factor=2)
        self.modulated_conv = ModulatedConv2d(in_channels, 3, 1, num_style_feat, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out: torch.Tensor = self.modulated_conv(x, style) + self.bias
        if skip is None:
            return out
        if self.upsample:
            skip = self.fir_upsample(skip) if self.resample == "upfirdn" else _interpolate(skip, 2, self.resample)
        return out + skip


class ConstantInput(nn.Module):
    """Learned constant 4x4 input of the synthesis network."""

    def __init__(self, num_channel: int, size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, num_channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.weight.repeat(batch, 1, 1, 1)


class ConvLayer(nn.Sequential):
    """[downsample] -> EqualConv2d -> [activation], as in the StyleGAN2 discriminator.

    Index 0 is always the (parameter-free) resampler when `downsample`, so state-dict keys match BasicSR.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        downsample: bool = False,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
        bias: bool = True,
        activate: bool = True,
        resample: Resample = "upfirdn",
    ) -> None:
        layers: list[nn.Module] = []
        stride, padding = 1, kernel_size // 2
        if downsample:
            if resample == "upfirdn":
                layers.append(UpFirDnSmooth(resample_kernel, 1, 2, kernel_size=kernel_size))
                stride, padding = 2, 0
            else:
                align_corners = None if resample == "nearest" else False
                layers.append(nn.Upsample(scale_factor=0.5, mode=resample, align_corners=align_corners))
        layers.append(
            EqualConv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=padding,
                bias=bias and not activate,
            )
        )
        if activate:
            layers.append(FusedLeakyReLU(out_channels) if bias else ScaledLeakyReLU(0.2))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Residual down-sampling block of the StyleGAN2 discriminator and the GFPGAN encoder."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
        resample: Resample = "upfirdn",
    ) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3, bias=True, activate=True)
        self.conv2 = ConvLayer(
            in_channels, out_channels, 3, downsample=True, resample_kernel=resample_kernel, resample=resample
        )
        self.skip = ConvLayer(
            in_channels,
            out_channels,
            1,
            downsample=True,
            resample_kernel=resample_kernel,
            bias=False,
            activate=False,
            resample=resample,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv2(self.conv1(x)) + self.skip(x)
        return out / math.sqrt(2)
