"""The fast inference form of the restoration network, chosen per device, and its persistent compile cache.

The exact form is the official computation: float32, the grouped modulated convolution, contiguous tensors, eager.
The fast form runs the activation form of the modulated convolution (static weights, which oneDNN and cuDNN keep
packed; see facerevive.archs.modconv) in channels_last under `torch.compile`, in bf16 where the device has bf16
units; without compile, reduced precision is autocast on the exact form's network. Its error against the exact
form is measured and stated in docs/restore/README.md.

`precision='auto'` is bf16 where the device has bf16 units (a CUDA GPU that supports it; a CPU with AMX or
AVX512-BF16, read from the CPU's flags as torch reports them), fp32 elsewhere. `compile='auto'` compiles where the
measured gain pays for the compile time of a first run: release-size networks (512 px faces) on a device with bf16
units; a CPU without them (AVX2 only) runs eagerly (see the README's Performance table for the figures behind it).

Compiled code is cached under `compile_cache_dir()` (Inductor's FX graph and autotuning caches), so only the first
run on a machine pays the full compile time; a run logs one line when it compiles and what the cache gave.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from facerevive.archs.modconv import set_modconv_form

log = logging.getLogger(__name__)

CompileChoice = Literal["auto", True, False]
# Faces of the official releases; below this, compiling costs more than it ever saves in a run.
COMPILE_MIN_FACE_SIZE = 512
CACHE_ENV = "FACEREVIVE_CACHE_DIR"
# "0" or "1" overrides the CPU probe of has_bf16_units (a virtual machine may hide or misreport the CPU's flags).
BF16_UNITS_ENV = "FACEREVIVE_BF16_UNITS"
INDUCTOR_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


def has_bf16_units(device: torch.device) -> bool:
    """Whether `device` computes bf16 in hardware: a CUDA GPU that supports it, or a CPU with AMX tiles or
    AVX512-BF16 (as torch's own CPU feature probe reports them, or $FACEREVIVE_BF16_UNITS=0/1). Elsewhere bf16
    is emulated and slower."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        override = os.environ.get(BF16_UNITS_ENV)
        if override in ("0", "1"):
            return override == "1"
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    return False


def cpu_description() -> str:
    """The CPU and its vector units as torch sees them, e.g. 'AVX2, no AVX512-BF16, no AMX', for figures."""
    parts = [torch.backends.cpu.get_cpu_capability()]
    parts.append("AVX512-BF16" if torch.cpu._is_avx512_bf16_supported() else "no AVX512-BF16")
    parts.append("AMX" if torch.cpu._is_amx_tile_supported() else "no AMX")
    return ", ".join(parts)


def resolve_precision(precision: str, device: torch.device) -> str:
    """`precision` with 'auto' decided for `device`: bf16 where it has bf16 units, else fp32."""
    if precision != "auto":
        return precision
    return "bf16" if has_bf16_units(device) else "fp32"


def resolve_compile(choice: CompileChoice | str, device: torch.device, face_size: int) -> bool:
    """Whether to torch.compile the network: `choice` True/False, or 'auto' (release-size networks on a device
    with bf16 units, where the measured gain is several times the eager speed)."""
    if choice == "auto":
        return face_size >= COMPILE_MIN_FACE_SIZE and has_bf16_units(device)
    if isinstance(choice, bool):
        return choice
    raise ValueError(f"compile={choice!r}: allowed values are auto | true | false")


def compile_cache_dir() -> Path:
    """Where compiled networks are kept between runs: $FACEREVIVE_CACHE_DIR/compile, else the user's cache
    folder ($XDG_CACHE_HOME or ~/.cache)/facerevive/compile."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser() / "compile"
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home).expanduser() / "facerevive" / "compile"


def use_compile_cache() -> Path:
    """Point Inductor's on-disk caches (its FX graph cache is on by default) at `compile_cache_dir()`, unless the
    user set TORCHINDUCTOR_CACHE_DIR to a folder of their own; returns the folder in use.

    Torch writes its default (a folder under /tmp, lost at reboot) into that variable the first time it looks, so
    the default counts as not set."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    current = os.environ.get(INDUCTOR_CACHE_ENV)
    if current is None or os.path.abspath(current) == os.path.abspath(default_cache_dir()):
        os.environ[INDUCTOR_CACHE_ENV] = str(compile_cache_dir())
    folder = Path(os.environ[INDUCTOR_CACHE_ENV])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _kernels(net: nn.Module) -> list[torch.Tensor]:
    """The convolution kernels of `net` as the convolutions take them: 4-d weights, and the static weight
    `weight[0]` of each modulated convolution (stored 5-d, (1, c_out, c_in, k, k))."""
    kernels: list[torch.Tensor] = []
    for param in net.parameters():
        if param.dim() == 4:
            kernels.append(param)
        elif param.dim() == 5 and param.shape[0] == 1:
            kernels.append(param[0])
    return kernels


def _set_kernel_layout(net: nn.Module, memory_format: torch.memory_format) -> None:
    """Lay every convolution kernel of `net` out in `memory_format` (values unchanged)."""
    with torch.no_grad():
        for param in net.parameters():
            if param.dim() == 4:
                param.data = param.data.contiguous(memory_format=memory_format)
            elif param.dim() == 5 and param.shape[0] == 1:
                param.data = param.data[0].contiguous(memory_format=memory_format)[None]


def is_fast_form(net: nn.Module) -> bool:
    """Whether `net` is in the fast form (activation-form modulated convolutions, channels_last kernels)."""
    forms = {module.modconv_form for module in net.modules() if hasattr(module, "modconv_form")}
    channels_last = all(k.is_contiguous(memory_format=torch.channels_last) for k in _kernels(net))
    return forms <= {"activation"} and channels_last


def is_exact_form(net: nn.Module) -> bool:
    """Whether `net` is in the official form (grouped modulated convolutions, contiguous weights)."""
    forms = {module.modconv_form for module in net.modules() if hasattr(module, "modconv_form")}
    return forms <= {"grouped"} and all(p.is_contiguous() for p in net.parameters())


def in_form(net: nn.Module, fast: bool) -> nn.Module:
    """`net` in the fast or the exact form: itself when it already is, else a converted copy (the caller's
    network is left as it is, so an exact and a fast restorer can share it)."""
    if (is_fast_form if fast else is_exact_form)(net):
        return net
    converted = copy.deepcopy(net)
    set_modconv_form(converted, "activation" if fast else "grouped")
    _set_kernel_layout(converted, torch.channels_last if fast else torch.contiguous_format)
    return converted


def _cache_counts() -> tuple[int, int]:
    from torch._dynamo.utils import counters

    return counters["inductor"]["fxgraph_cache_hit"], counters["inductor"]["fxgraph_cache_miss"]


class CompiledNetwork:
    """`net` under torch.compile (static shapes), with the compile cache on; eager when compiling fails.

    The first call of each input shape compiles: a line is logged before (the wait can be minutes on a CPU) and
    one after with the time and whether Inductor's cache supplied the code (`last_cache_hits`, `last_cache_misses`
    count its FX graph cache look-ups). A compiler failure is logged once and the network runs eagerly from then on.
    """

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self.cache_dir = use_compile_cache()
        self.compiled: Any = torch.compile(net, dynamic=False)
        self.shapes: set[tuple[int, ...]] = set()
        self.compile_seconds: dict[tuple[int, ...], float] = {}
        self.last_cache_hits = 0
        self.last_cache_misses = 0

    def __call__(self, x: torch.Tensor, **kwargs: Any) -> Any:
        if self.compiled is None:
            return self.net(x, **kwargs)
        shape = tuple(x.shape)
        if shape in self.shapes:
            return self.compiled(x, **kwargs)
        log.warning("compiling the restoration network for input %s (torch.compile; cache %s)", shape, self.cache_dir)
        hits, misses = _cache_counts()
        start = time.perf_counter()
        try:
            out = self.compiled(x, **kwargs)
        except Exception as error:  # any compiler failure falls back; the network's own errors come back eagerly
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            log.warning("torch.compile failed (%s: %s); the network runs eagerly", type(error).__name__, reason)
            self.compiled = None
            return self.net(x, **kwargs)
        seconds = time.perf_counter() - start
        new_hits, new_misses = _cache_counts()
        self.last_cache_hits, self.last_cache_misses = new_hits - hits, new_misses - misses
        self.shapes.add(shape)
        self.compile_seconds[shape] = seconds
        source = "from the cache" if self.last_cache_misses == 0 and self.last_cache_hits > 0 else "compiled anew"
        log.warning("restoration network ready in %.1f s (%s; later runs reuse the cache)", seconds, source)
        return out
