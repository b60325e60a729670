"""Per-component cost of one FaceRevive training iteration, from torch.profiler.

`ComponentLabels` puts record_function labels on a GFPGANModule while it is entered: forward hooks on the
networks and wrappers around EMA, the NaN guard and the R1 penalty (the model code is not edited). `attribute`
then gives every top-level op of the trace to a component: forward ops to the innermost label around them,
backward ops (autograd nodes) to the component whose forward created them (autograd sequence numbers), the
optimiser steps to torch's own `Optimizer.step#...` labels. Time outside any op is Python and Lightning work
(CPU) or an idle GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.autograd.profiler_util import FunctionEvent

import facerevive.models.base as base_module
import facerevive.models.gfpgan_module as gfpgan_module

PREFIX = "bench::"
BACKWARD = "autograd::engine::evaluate_function"
OPTIMISER = "optimiser steps (Adam x5, zero_grad)"
R1 = "R1 (D forward, penalty, double backward)"
OTHER_OPS = "other ops (losses, crops, grad accumulation)"
OUTSIDE = "outside ops (Python, Lightning; GPU: idle)"

# GFPGANv1's children by component; children not listed count as "G other".
GENERATOR_PARTS = {
    "conv_body_first": "G U-Net encoder (down path, style code)",
    "conv_body_down": "G U-Net encoder (down path, style code)",
    "final_conv": "G U-Net encoder (down path, style code)",
    "final_linear": "G U-Net encoder (down path, style code)",
    "conv_body_up": "G U-Net up path + RGB pyramid",
    "toRGB": "G U-Net up path + RGB pyramid",
    "condition_scale": "G SFT conditions",
    "condition_shift": "G SFT conditions",
    "stylegan_decoder": "G StyleGAN2 decoder (SFT applied inside)",
}
COMPONENT_ORDER = [
    *dict.fromkeys(GENERATOR_PARTS.values()),
    "G other",
    "D global",
    "D left eye",
    "D right eye",
    "D mouth",
    R1,
    "VGG perceptual + style",
    "ArcFace identity",
    OPTIMISER,
    "EMA",
    "NaN/Inf guard",
    OTHER_OPS,
    OUTSIDE,
]


class ComponentLabels:
    """Context manager: record_function labels on `module`'s components while entered."""

    def __init__(self, module: gfpgan_module.GFPGANModule) -> None:
        self.module = module
        self._stack: list[Any] = []
        self._handles: list[Any] = []
        self._restore: list[Callable[[], None]] = []

    def _open(self, label: str) -> None:
        scope = torch.profiler.record_function(PREFIX + label)
        scope.__enter__()
        self._stack.append(scope)

    def _close(self) -> None:
        self._stack.pop().__exit__(None, None, None)

    def _hook(self, net: nn.Module, label: Callable[[tuple[Any, ...]], str]) -> None:
        self._handles.append(net.register_forward_pre_hook(lambda _m, args: self._open(label(args))))
        self._handles.append(net.register_forward_hook(lambda _m, _args, _out: self._close()))

    def _wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        had_own = name in vars(owner)

        def labelled(*args: Any, **kwargs: Any) -> Any:
            with torch.profiler.record_function(PREFIX + label):
                return original(*args, **kwargs)

        setattr(owner, name, labelled)
        self._restore.append(lambda: setattr(owner, name, original) if had_own else delattr(owner, name))

    def __enter__(self) -> ComponentLabels:
        module = self.module
        self._hook(module.net_g, lambda _args: "G other")
        for name, child in module.net_g.named_children():
            if name in GENERATOR_PARTS:
                # A ModuleList is never called itself: its members are.
                members = list(child) if isinstance(child, nn.ModuleList) else [child]
                for member in members:
                    self._hook(member, lambda _args, part=GENERATOR_PARTS[name]: part)
        # R1 is the one D forward on a leaf image that requires grad (gt_r1); the G and D steps pass other inputs.
        self._hook(module.net_d, lambda args: R1 if args[0].requires_grad and args[0].is_leaf else "D global")
        for name, net in module.component_discriminators().items():
            label = "D " + name.replace("_", " ")
            self._hook(net, lambda _args, label=label: label)
        if module.perceptual is not None:
            self._hook(module.perceptual, lambda _args: "VGG perceptual + style")
        if module.net_identity is not None:
            self._hook(module.net_identity, lambda _args: "ArcFace identity")
        self._wrap(module, "update_ema", "EMA")
        self._wrap(module.nonfinite, "check", "NaN/Inf guard")
        self._wrap(base_module, "r1_penalty", R1)
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        for restore in reversed(self._restore):
            restore()
        self._handles.clear()
        self._restore.clear()


def _label(event: FunctionEvent) -> str | None:
    if event.name.startswith(PREFIX):
        return event.name[len(PREFIX) :]
    if event.name.startswith(("Optimizer.step#", "Optimizer.zero_grad#")):
        return OPTIMISER
    return None


def _is_op(event: FunctionEvent) -> bool:
    return "::" in event.name and _label(event) is None


def attribute(events: Iterable[FunctionEvent], wall_us: float, device_time: bool) -> dict[str, float]:
    """Microseconds per component (COMPONENT_ORDER names) of a trace lasting `wall_us`.

    Each top-level op counts once, with its CPU duration, or with its kernels' time when `device_time`.
    """
    cpu_events = [e for e in events if e.device_type == torch.autograd.DeviceType.CPU]
    forward_ops: dict[tuple[int, int], FunctionEvent] = {}
    for event in cpu_events:
        if _is_op(event) and not event.name.startswith(BACKWARD) and event.sequence_nr >= 0:
            forward_ops.setdefault((event.thread, event.sequence_nr), event)
    owners: dict[int, str | None] = {}

    def owner(event: FunctionEvent) -> str | None:
        if event.id in owners:
            return owners[event.id]
        found: str | None = None
        if event.name.startswith(BACKWARD) and event.sequence_nr >= 0:
            creator = forward_ops.get((event.fwd_thread, event.sequence_nr))
            found = owner(creator) if creator is not None else None
        parent = event.cpu_parent
        while found is None and parent is not None:
            found = _label(parent)
            if found is None and parent.name.startswith(BACKWARD):
                found = owner(parent)
                break
            parent = parent.cpu_parent
        owners[event.id] = found
        return found

    totals = dict.fromkeys(COMPONENT_ORDER, 0.0)
    for event in cpu_events:
        if not _is_op(event):
            continue
        parent = event.cpu_parent
        while parent is not None and not _is_op(parent):
            parent = parent.cpu_parent
        if parent is not None:
            continue  # inside another op: counted with it
        spent = event.device_time_total if device_time else event.cpu_time_total
        totals[owner(event) or OTHER_OPS] += spent
    totals[OUTSIDE] = max(0.0, wall_us - sum(totals.values()))
    return totals


def profile_table(plain: dict[str, float], r1: dict[str, float], reg_every: int) -> tuple[list[str], dict]:
    """Markdown rows (ms of a plain and of an R1 iteration, amortised ms, % of the amortised iteration)."""
    amortised = {k: ((reg_every - 1) * plain[k] + r1[k]) / reg_every for k in COMPONENT_ORDER}
    total = sum(amortised.values())
    rows = [
        "| component | plain iteration ms | R1 iteration ms | amortised ms | % of iteration |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in COMPONENT_ORDER:
        rows.append(
            f"| {name} | {plain[name] / 1e3:.1f} | {r1[name] / 1e3:.1f} | {amortised[name] / 1e3:.1f} "
            f"| {100 * amortised[name] / total:.1f} |"
        )
    plain_total, r1_total = sum(plain.values()), sum(r1.values())
    rows.append(f"| **iteration** | {plain_total / 1e3:.1f} | {r1_total / 1e3:.1f} | {total / 1e3:.1f} | 100.0 |")
    figures = {
        name: {"plain_ms": plain[name] / 1e3, "r1_ms": r1[name] / 1e3, "amortised_ms": amortised[name] / 1e3}
        for name in COMPONENT_ORDER
    }
    return rows, figures
