"""The training speed switches every IterationModule takes: torch.compile with an eager fallback, TF32,
channels-last weights and the CPU's denormal flush. None changes what is trained; each one's effect on the
numbers is measured in tests/test_speed_switches.py."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeedSwitches:
    """`channels_last`: 4-D weights and the batches in NHWC; `tf32`: see `set_tf32`; `compile`: net_g's and
    net_d's training passes through `CompiledOrEager`; `flush_denormal`: denormal floats flushed to zero while
    training on CPU (a small CPU run slowed 20x from them; GPUs run denormals at full speed)."""

    channels_last: bool = False
    tf32: bool | None = None
    compile: bool = False
    flush_denormal: bool = False


class CompiledOrEager:
    """A network as training calls it under `model.compile`: torch.compile'd, or eager once compiling failed.

    torch.compile works lazily: the first call compiles (its time is logged as the compile-time figure). If that
    fails, the reason is logged once and the network runs eagerly from then on: training never stops for it.
    """

    def __init__(self, name: str, net: nn.Module) -> None:
        self.name = name
        self.net = net
        self.compiled: Callable[..., Any] | None = torch.compile(net)
        self.compile_seconds: float | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.compiled is None:
            return self.net(*args, **kwargs)
        if self.compile_seconds is not None:
            return self.compiled(*args, **kwargs)
        start = time.perf_counter()
        try:
            out = self.compiled(*args, **kwargs)
        # Any compiler failure falls back; an error of the network itself comes back from the eager call.
        except Exception as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            log.warning(
                "model.compile: torch.compile of %s failed (%s: %s); %s runs eagerly",
                self.name,
                type(error).__name__,
                reason,
                self.name,
            )
            self.compiled = None
            return self.net(*args, **kwargs)
        self.compile_seconds = time.perf_counter() - start
        log.warning("model.compile: %s compiled in %.1f s (its first call)", self.name, self.compile_seconds)
        return out


def set_tf32(enabled: bool | None) -> None:
    """TF32 for CUDA float32 matmuls and cuDNN convolutions: True on, False off (exact fp32), None torch's defaults
    (cuDNN convolutions TF32, matmuls full fp32: how the official code runs). CUDA only: CPU kernels are untouched."""
    if enabled is None:
        return
    # The allow_tf32 flags, as the rest of the project sets them (torch refuses a mix with its fp32_precision API).
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def to_channels_last(module: nn.Module) -> None:
    """Store every 4-D parameter and buffer of `module` channels-last, in place (the Parameter objects stay, so
    optimisers built on them remain valid; Module.to(memory_format=...) rejects the other ranks)."""
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.dim() == 4:
                tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
