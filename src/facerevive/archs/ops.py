"""Pure-PyTorch StyleGAN2 operations: FIR up/down-sampling and the fused bias + leaky ReLU.

These are the reference implementations; they run on CPU and GPU with no compiled extension.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

SQRT2 = math.sqrt(2.0)


def make_resample_kernel(taps: Sequence[float]) -> torch.Tensor:
    """2D FIR kernel from 1D taps (outer product), normalised to sum to one."""
    kernel = torch.as_tensor(taps, dtype=torch.float32)
    if kernel.ndim == 1:
        kernel = kernel[None, :] * kernel[:, None]
    return kernel / kernel.sum()


def upfirdn2d(
    x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """Zero-insert upsample by `up`, pad by `pad` on every side, FIR-filter with `kernel`, keep every `down`-th pixel.

    Same semantics as StyleGAN2's upfirdn2d (the kernel is flipped, i.e. a true convolution). The filter runs
    as one depthwise (grouped) convolution with stride `down`, which is far faster than per-channel
    convolutions on CPU and GPU and gives bit-identical sums.
    """
    if torch.onnx.is_in_onnx_export():
        return _upfirdn2d_for_export(x, kernel, up, down, pad)
    batch, channels, height, width = x.shape
    planes = batch * channels
    out = x.reshape(1, planes, height, width)
    if up > 1:
        out = out.reshape(1, planes, height, 1, width, 1)
        out = F.pad(out, [0, up - 1, 0, 0, 0, up - 1])
        out = out.reshape(1, planes, height * up, width * up)
    pad0, pad1 = pad
    out = F.pad(out, [max(pad0, 0), max(pad1, 0), max(pad0, 0), max(pad1, 0)])
    if pad0 < 0 or pad1 < 0:
        h, w = out.shape[-2:]
        out = out[:, :, max(-pad0, 0) : h - max(-pad1, 0), max(-pad0, 0) : w - max(-pad1, 0)]
    weight = torch.flip(kernel, [0, 1]).to(out).expand(planes, 1, *kernel.shape)
    out = F.conv2d(out, weight, stride=down, groups=planes)
    return out.reshape(batch, channels, out.shape[-2], out.shape[-1])


def _upfirdn2d_for_export(
    x: torch.Tensor, kernel: torch.Tensor, up: int, down: int, pad: tuple[int, int]
) -> torch.Tensor:
    """upfirdn2d as an ONNX graph can hold it: one group per channel, every shape but the batch a constant (a
    convolution kernel must have a static shape, and the batch of an export may be dynamic)."""
    channels, height, width = (int(n) for n in x.shape[1:])
    out = x
    if up > 1:
        out = F.pad(out.reshape(-1, channels, height, 1, width, 1), [0, up - 1, 0, 0, 0, up - 1])
        height, width = height * up, width * up
        out = out.reshape(-1, channels, height, width)
    pad0, pad1 = pad
    out = F.pad(out, [max(pad0, 0), max(pad1, 0), max(pad0, 0), max(pad1, 0)])
    height, width = height + max(pad0, 0) + max(pad1, 0), width + max(pad0, 0) + max(pad1, 0)
    if pad0 < 0 or pad1 < 0:
        out = out[:, :, max(-pad0, 0) : height - max(-pad1, 0), max(-pad0, 0) : width - max(-pad1, 0)]
    weight = torch.flip(kernel, [0, 1]).to(out).expand(channels, 1, *kernel.shape)
    return F.conv2d(out, weight, stride=down, groups=channels)


def fused_leaky_relu(
    x: torch.Tensor, bias: torch.Tensor | None, negative_slope: float = 0.2, scale: float = SQRT2
) -> torch.Tensor:
    """leaky_relu(x + bias) * scale, the bias broadcast along dim 1."""
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, negative_slope) * scale


class FusedLeakyReLU(nn.Module):
    """Learned per-channel bias followed by a gain-corrected leaky ReLU."""

    def __init__(self, channels: int, negative_slope: float = 0.2, scale: float = SQRT2) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.negative_slope = negative_slope
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)


class ScaledLeakyReLU(nn.Module):
    """Leaky ReLU multiplied by sqrt(2) to keep the activation variance."""

    def __init__(self, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, self.negative_slope) * SQRT2


class UpFirDnUpsample(nn.Module):
    """FIR upsampling by `factor` (used on the RGB skip path of the generator)."""

    def __init__(self, resample_kernel: Sequence[int], factor: int = 2) -> None:
        super().__init__()
        self.kernel = make_resample_kernel(resample_kernel) * factor**2
        self.factor = factor
        pad = self.kernel.shape[0] - factor
        self.pad = ((pad + 1) // 2 + factor - 1, pad // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class UpFirDnSmooth(nn.Module):
    """FIR blur that surrounds a strided (transposed) convolution, as in StyleGAN2."""

    def __init__(
        self,
        resample_kernel: Sequence[int],
        upsample_factor: int = 1,
        downsample_factor: int = 1,
        kernel_size: int = 1,
    ) -> None:
        super().__init__()
        self.upsample_factor = upsample_factor
        self.downsample_factor = downsample_factor
        self.kernel = make_resample_kernel(resample_kernel)
        if upsample_factor > 1:
            self.kernel = self.kernel * upsample_factor**2
            pad = (self.kernel.shape[0] - upsample_factor) - (kernel_size - 1)
            self.pad = ((pad + 1) // 2 + upsample_factor - 1, pad // 2 + 1)
        elif downsample_factor > 1:
            pad = (self.kernel.shape[0] - downsample_factor) + (kernel_size - 1)
            self.pad = ((pad + 1) // 2, pad // 2)
        else:
            raise ValueError("UpFirDnSmooth needs upsample_factor > 1 or downsample_factor > 1")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)
