"""`device=` settings: auto prefers CUDA, then Apple's MPS, then the CPU; an unavailable device is an error."""

from __future__ import annotations

import pytest
import torch

from facerevive.utils.device import resolve_device

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")]
)
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected


def test_unavailable_or_unknown_devices_name_the_setting(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device=mps was requested but Apple's MPS is not available"):
        resolve_device("mps")
    with pytest.raises(ValueError, match=r"device=cuda:1 was requested but no CUDA device"):
        resolve_device("cuda:1")
    with pytest.raises(ValueError, match=r"device='gpu0' is not a device"):
        resolve_device("gpu0")
    assert resolve_device("cpu") == torch.device("cpu")
