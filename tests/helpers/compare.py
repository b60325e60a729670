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

# (test id, what, error to peak) of every parity comparison in the session, for the terminal summary.
PARITY_RECORDS: list[tuple[str, str, float]] = []


def error_to_peak(ours: torch.Tensor, reference: torch.Tensor) -> float:
    """max |ours - reference| / max |reference|: the largest absolute error scaled by the reference's peak
    magnitude, not an element-wise relative error (small elements may differ by more than `rel` of themselves).
    The absolute error when the reference is all zeros."""
    ours, reference = ours.detach().double(), reference.detach().double()
    assert ours.shape == reference.shape, f"shape {tuple(ours.shape)} != reference {tuple(reference.shape)}"
    scale = reference.abs().max().item()
    diff = (ours - reference).abs().max().item()
    return diff / scale if scale > 0 else diff


def assert_close_to_peak(ours: torch.Tensor, reference: torch.Tensor, rel: float = 1e-5, what: str = "output") -> float:
    """Fail unless error_to_peak(ours, reference) <= `rel` (a fraction of the reference's peak |value|); return
    the measured error."""
    assert torch.isfinite(reference).all(), f"reference {what} is not finite"
    error = error_to_peak(ours, reference)
    test_id = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    PARITY_RECORDS.append((test_id, what, error))
    assert error <= rel, f"{what}: max abs error / reference peak {error:.3e} > {rel:.0e}"
    return error
