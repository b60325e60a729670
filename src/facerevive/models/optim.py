"""Optimiser builders that the model configs target (`_partial_: true`): the module only passes parameters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch


def lazy_r1_adam(
    params: Iterable[torch.nn.Parameter],
    lr: float,
    betas: Sequence[float] = (0.0, 0.99),
    reg_every: int = 16,
    scale_lr: bool = False,
    **kwargs: Any,
) -> torch.optim.Adam:
    """Adam for a discriminator with lazy R1 every `reg_every` iterations (StyleGAN2).

    The betas are raised to the power reg_every / (reg_every + 1). The official GFPGAN code also computes
    a scaled lr but its parameter group keeps the unscaled one, so D trains at `lr`: `scale_lr=False` is that
    behaviour, `scale_lr=True` applies StyleGAN2's lr * reg_every / (reg_every + 1).
    """
    if reg_every < 1:
        raise ValueError(f"reg_every must be >= 1, got {reg_every}")
    ratio = reg_every / (reg_every + 1)
    scaled_betas = (float(betas[0]) ** ratio, float(betas[1]) ** ratio)
    return torch.optim.Adam(params, lr=float(lr) * ratio if scale_lr else float(lr), betas=scaled_betas, **kwargs)
