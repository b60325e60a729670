"""Separable filtering of image batches (valid region only), fast on every device, for the float64 metrics.

On CPU, OpenCV's sepFilter2D per plane: torch has no fast float64 convolution there (it falls back to im2col)
and a banded matrix product costs the image width per pixel. Elsewhere, a sum of shifted slices (k
multiply-adds per pixel per pass). Both are correlations (the window is not flipped) and agree to round-off.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

_CV_DEPTH = {torch.float64: cv2.CV_64F, torch.float32: cv2.CV_32F}


def correlate_valid(x: torch.Tensor, taps: Sequence[float], dim: int) -> torch.Tensor:
    """sum_i taps[i] * x[..., j + i, ...] along `dim` over the valid positions (length - k + 1)."""
    length = x.shape[dim] - len(taps) + 1
    if length < 1:
        raise ValueError(f"a {len(taps)}-tap filter needs at least {len(taps)} samples, got {x.shape[dim]}")
    out = x.narrow(dim, 0, length) * taps[0]
    for i, tap in enumerate(taps[1:], start=1):
        out.add_(x.narrow(dim, i, length), alpha=tap)
    return out


def _opencv_valid(x: torch.Tensor, rows: Sequence[float], cols: Sequence[float]) -> torch.Tensor:
    h, w = x.shape[-2:]
    top, left = len(rows) // 2, len(cols) // 2
    out_h, out_w = h - len(rows) + 1, w - len(cols) + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"a {len(rows)}x{len(cols)} window needs at least that many pixels, got {h}x{w}")
    kx, ky = np.asarray(cols, dtype=np.float64), np.asarray(rows, dtype=np.float64)
    planes = x.reshape(-1, h, w).numpy()
    out = np.stack(
        [cv2.sepFilter2D(p, _CV_DEPTH[x.dtype], kx, ky)[top : top + out_h, left : left + out_w] for p in planes]
    )
    return torch.from_numpy(out).reshape(*x.shape[:-2], out_h, out_w)


def separable_valid(x: torch.Tensor, rows: Sequence[float], cols: Sequence[float]) -> torch.Tensor:
    """2-D correlation of the last two axes with the rank-one window outer(rows, cols), valid region only
    (odd window sizes)."""
    if len(rows) % 2 == 0 or len(cols) % 2 == 0:
        raise ValueError(f"separable_valid needs odd window sizes, got {len(rows)}x{len(cols)}")
    if x.device.type == "cpu" and x.dtype in _CV_DEPTH and not x.requires_grad:
        return _opencv_valid(x.contiguous(), rows, cols)
    return correlate_valid(correlate_valid(x, rows, x.dim() - 2), cols, x.dim() - 1)
