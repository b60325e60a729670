"""Refuse networks with NaN/Inf weights: such a file restores black faces, so it is never saved or loaded."""

from __future__ import annotations

from collections.abc import Mapping

import torch


class NonFiniteWeightsError(ValueError):
    """A state dict holds a NaN or Inf value."""


def first_nonfinite_tensor(state: Mapping[str, torch.Tensor]) -> str | None:
    """Name of the first floating-point tensor of `state` with a NaN or Inf; None when all are finite."""
    floats = [(name, t) for name, t in state.items() if isinstance(t, torch.Tensor) and t.is_floating_point()]
    if not floats or bool(torch.stack([t.isfinite().all() for _, t in floats]).all()):
        return None
    return next(name for name, t in floats if not bool(t.isfinite().all()))


def check_finite_state(state: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise NonFiniteWeightsError naming `source` and the first non-finite tensor of `state`."""
    bad = first_nonfinite_tensor(state)
    if bad is not None:
        raise NonFiniteWeightsError(f"{source}: tensor {bad!r} holds NaN or Inf values; refusing these weights")
