"""Conversions between the value ranges images take in FaceRevive: signed [-1, 1] (networks), unit [0, 1]
(metrics, files) and 8-bit levels."""

from __future__ import annotations

import torch


def signed_to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped (as BasicSR's tensor2img before the 8-bit cast)."""
    return ((x + 1) / 2).clamp(0, 1)


def unit_to_signed(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return x * 2 - 1


def quantize_unit(x: torch.Tensor) -> torch.Tensor:
    """Round [0, 1] images to 8-bit levels (what saving and re-reading a PNG gives)."""
    return (x.clamp(0, 1) * 255).round() / 255


def unit_to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> uint8 levels (rounded half to even, as torch.round)."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)
