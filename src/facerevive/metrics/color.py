"""Colour conversions shared by the metrics. Inputs are RGB, [0, 1], NCHW."""

from __future__ import annotations

import torch

# ITU-R BT.601 luma as MATLAB's rgb2ycbcr computes it (studio swing: Y in [16, 235] / 255).
_Y_WEIGHTS = (65.481, 128.553, 24.966)


def rgb_to_y(img: torch.Tensor) -> torch.Tensor:
    """MATLAB-style Y of YCbCr, (N, 1, H, W) in [16/255, 235/255], from RGB in [0, 1]."""
    r, g, b = img[:, 0:1], img[:, 1:2], img[:, 2:3]
    return (_Y_WEIGHTS[0] * r + _Y_WEIGHTS[1] * g + _Y_WEIGHTS[2] * b + 16.0) / 255.0
