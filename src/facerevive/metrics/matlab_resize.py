"""MATLAB `imresize` (bicubic, antialiased when shrinking) as two dense resampling matrices.

MATLAB (and BasicSR's `matlab_functions.imresize`, its Python port) computes each output pixel from a cubic
kernel widened by 1/scale when shrinking, with symmetric padding at the borders. The same weights written
as an (out, in) matrix per axis turn the resize into two matrix products, which batch on any device.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch


def _cubic(x: torch.Tensor) -> torch.Tensor:
    ax = x.abs()
    near = (1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1)
    far = (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


@lru_cache(maxsize=32)
def resize_matrix(in_length: int, scale: float, antialiasing: bool = True) -> torch.Tensor:
    """(out_length, in_length) float64 matrix of MATLAB's bicubic resize along one axis."""
    out_length = math.ceil(in_length * scale)
    kernel_width = 4.0 / scale if (scale < 1 and antialiasing) else 4.0
    x = torch.arange(1, out_length + 1, dtype=torch.float64)
    centre = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(centre - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    index = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    distance = centre[:, None] - index
    weights = scale * _cubic(distance * scale) if (scale < 1 and antialiasing) else _cubic(distance)
    weights = weights / weights.sum(dim=1, keepdim=True)
    # 1-based positions to 0-based, mirrored at both ends (symmetric padding: -1 -> 0, L -> L-1).
    j = index.long() - 1
    j = torch.where(j < 0, -j - 1, j)
    j = torch.where(j >= in_length, 2 * in_length - 1 - j, j)
    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    matrix.scatter_add_(1, j, weights)
    return matrix


def imresize(img: torch.Tensor, scale: float, antialiasing: bool = True) -> torch.Tensor:
    """Resize the last two axes of `img` like MATLAB's imresize(img, scale, 'bicubic'); no rounding."""
    rows = resize_matrix(img.shape[-2], scale, antialiasing).to(img.device, img.dtype)
    cols = resize_matrix(img.shape[-1], scale, antialiasing).to(img.device, img.dtype)
    return rows @ img @ cols.T
