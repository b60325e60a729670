"""The fast blur's DFT correlation against `cv2.filter2D` (reflect-101 borders) on large, odd and non-square
images; the blur's own bound against the official filter is checked in test_data_degradations_parity.py."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from test_data_support import record_abs_error

from facerevive.data import degradations as F

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("height", "width"), [(512, 512), (257, 300), (300, 256)])
@pytest.mark.parametrize("size", [17, 41])
def test_dft_correlation_is_filter2d(height, width, size):
    img = np.random.default_rng(height + size).random((height, width, 3), dtype=np.float32)
    kernel = F.gaussian_kernel(size, 8.0, 0.3, math.pi / 5, isotropic=False)
    kernel[0, 1] += 0.01  # not point-symmetric: a flipped kernel would show
    record_abs_error("DFT correlation", F._correlate_dft(img, kernel), cv2.filter2D(img, -1, kernel), 1e-6)


def test_dft_correlation_of_one_channel():
    img = np.random.default_rng(0).random((260, 270), dtype=np.float32)
    kernel = F.gaussian_kernel(41, 10.0, 0.1, math.pi / 4, isotropic=False)
    out = F._correlate_dft(img, kernel)
    assert out.shape == img.shape and out.dtype == np.float32
    record_abs_error("DFT correlation, one channel", out, cv2.filter2D(img, -1, kernel), 1e-6)


def test_thin_kernels_take_the_dft_path_on_large_images_only(monkeypatch):
    calls = []
    correlate = F._correlate_dft

    def recording(img, kernel):
        calls.append(img.shape)
        return correlate(img, kernel)

    monkeypatch.setattr(F, "_correlate_dft", recording)
    kernel = F.gaussian_kernel(41, 10.0, 0.1, math.pi / 4, isotropic=False)
    for side in (64, 512):
        F.blur(np.zeros((side, side, 3), np.float32), kernel)
    assert calls == [(512, 512, 3)]
