"""Exponential moving average of a network's parameters (BasicSR `model_ema`)."""

from __future__ import annotations

import torch
from torch import nn

# BasicSR's decay per iteration (half-life 10k images at its batch of 32): the default of both training modules.
OFFICIAL_EMA_DECAY = 0.5 ** (32 / (10 * 1000))


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * net, over parameters only (buffers such as noise maps stay as built).

    Parameters are matched by name; a missing one is an error rather than a silent skip.
    """
    source = dict(net.named_parameters())
    for name, param in ema.named_parameters():
        if name not in source:
            raise KeyError(f"EMA network has parameter {name!r} that the generator lacks")
        param.mul_(decay).add_(source[name].detach().to(param.dtype), alpha=1 - decay)
