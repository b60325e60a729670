"""The speed paths of facerevive.metrics give the values of the plain paths: OpenCV vs shifted-slice separable
filters, channels_last vs NCHW networks, one shared PSNR/SSIM preparation, batches vs single images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.compare import assert_close_to_peak
from test_metrics_parity import _faces, _tensor

from facerevive import metrics
from facerevive.metrics.filters import correlate_valid, separable_valid

pytestmark = pytest.mark.unit


def _dense_valid(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Direct 2-D correlation with outer(rows, cols), valid region, one plane."""
    window = np.outer(rows, cols)
    kh, kw = window.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(kh):
        for j in range(kw):
            out += window[i, j] * x[i : i + out.shape[0], j : j + out.shape[1]]
    return out


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_separable_filter_paths_agree_with_a_dense_correlation(dtype):
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((2, 3, 40, 33))).to(dtype)
    rows, cols = rng.random(7).tolist(), rng.random(5).tolist()  # asymmetric: a flipped window would fail
    fast = separable_valid(x, rows, cols)  # OpenCV on CPU
    sliced = correlate_valid(correlate_valid(x, rows, 2), cols, 3)
    planes = x.reshape(-1, 40, 33).double().numpy()
    dense = torch.from_numpy(np.stack([_dense_valid(p, np.array(rows), np.array(cols)) for p in planes]))
    rel = 1e-12 if dtype == torch.float64 else 1e-6
    assert fast.shape == (2, 3, 34, 29) and fast.dtype == dtype
    assert_close_to_peak(fast.reshape(-1, 34, 29), dense, rel, "OpenCV separable filter")
    assert_close_to_peak(sliced.reshape(-1, 34, 29), dense, rel, "shifted-slice separable filter")


def test_separable_filter_refuses_even_windows_and_small_images():
    with pytest.raises(ValueError, match="odd"):
        separable_valid(torch.zeros(1, 8, 8, dtype=torch.float64), [0.5, 0.5], [1.0])
    with pytest.raises(ValueError, match="at least"):
        separable_valid(torch.zeros(1, 4, 8, dtype=torch.float64), [1 / 5] * 5, [1.0])


def test_psnr_ssim_together_equal_psnr_and_ssim_apart():
    restored, gt = _tensor(_faces(2, 48, 56, seed=1)), _tensor(_faces(2, 48, 56, seed=2))
    for kwargs in ({}, {"correct": True, "y_channel": True, "crop_border": 3}):
        p, s = metrics.psnr_ssim(restored, gt, **kwargs)
        assert torch.equal(p, metrics.psnr(restored, gt, **kwargs))
        assert torch.equal(s, metrics.ssim(restored, gt, **kwargs))


def test_lpips_channels_last_equals_nchw_and_batches_equal_single_images():
    torch.manual_seed(0)
    nchw = metrics.LPIPS("alex", channels_last=False)
    nhwc = metrics.LPIPS("alex", channels_last=True)
    nhwc.load_state_dict(nchw.state_dict())
    a, b = _tensor(_faces(3, 64, 64, seed=3)).float(), _tensor(_faces(3, 64, 64, seed=4)).float()
    expected = nchw(a, b)
    assert (expected[0] - expected[1]).abs() > 1e-4 * expected.abs().max()  # values depend on the pair
    assert_close_to_peak(nhwc(a, b), expected, 1e-5, "LPIPS channels_last")
    single = torch.cat([nhwc(a[i : i + 1], b[i : i + 1]) for i in range(3)])
    assert_close_to_peak(single, expected, 1e-5, "LPIPS one image at a time")


@pytest.mark.slow
def test_landmarks_channels_last_equal_nchw():
    torch.manual_seed(3)
    net = metrics.build_awing(weights=None)
    imgs = _tensor(_faces(1, 128, 128, seed=5)).float()
    expected = metrics.LandmarkDetector(net, channels_last=False)(imgs)
    assert_close_to_peak(metrics.LandmarkDetector(net, channels_last=True)(imgs), expected, 1e-5, "landmarks NHWC")
