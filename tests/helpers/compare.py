"""Numerical comparison helpers for the parity tests."""

from __future__ import annotations

import os

import torch

# Parity tests run on the CPU in CI; FACEREVIVE_TEST_DEVICE=cuda runs the same tests on a GPU.
TEST_DEVICE = torch.device(os.environ.get("FACEREVIVE_TEST_DEVICE", "cpu"))
if TEST_DEVICE.type == "cuda":
    # TF32 convolutions round to 10 mantissa bits (~1e-3 relative): parity is checked in true fp32.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False

# (test id, what, relative error) of every parity comparison in the session, for the terminal summary.
PARITY_RECORDS: list[tuple[str, str, float]] = []


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    """max |ours - reference| / max |reference| (0 when both are exactly zero)."""
    ours, reference = ours.detach().double(), reference.detach().double()
    assert ours.shape == reference.shape, f"shape {tuple(ours.shape)} != reference {tuple(reference.shape)}"
    scale = reference.abs().max().item()
    diff = (ours - reference).abs().max().item()
    return diff / scale if scale > 0 else diff


def assert_rel_close(ours: torch.Tensor, reference: torch.Tensor, rel: float = 1e-5, what: str = "output") -> float:
    """Fail unless the relative error is within `rel`; return the measured error."""
    assert torch.isfinite(reference).all(), f"reference {what} is not finite"
    error = relative_error(ours, reference)
    test_id = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    PARITY_RECORDS.append((test_id, what, error))
    assert error <= rel, f"{what}: relative error {error:.3e} > {rel:.0e}"
    return error
