"""One rule for turning a `device=` setting into a torch.device, shared by every entry point."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """'auto' (or None) picks CUDA when available, then Apple's MPS, else the CPU; an explicit device that is
    not available is an error naming it, never a silent fallback."""
    if name is None or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={name!r} is not a device (use auto, cpu, cuda, cuda:N or mps)") from exc
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={name} was requested but Apple's MPS is not available here (use device=cpu)")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={name} was requested but no CUDA device is available (use device=cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device={name}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    return device
