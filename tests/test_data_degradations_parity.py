"""Each degradation step against BasicSR / GFPGAN on identical inputs and identical drawn parameters.

The official functions draw their own random numbers from numpy / torch global state. For each step the test
seeds that state, replays the same draws to learn the parameters (or records them by wrapping the kernel
builder), and feeds those parameters to FaceRevive's deterministic function. The bar is 1/255 (one 8-bit level);
most steps agree exactly.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from helpers.reference import import_reference
from test_data_support import record_abs_error, synthetic_face

from facerevive.data import degradations as F
from facerevive.data import transforms as T

pytestmark = pytest.mark.parity


@pytest.fixture(scope="module")
def deg():
    return import_reference("basicsr.data.degradations")


@pytest.fixture(scope="module")
def official_dataset_cls():
    return import_reference("gfpgan.data.ffhq_degradation_dataset").FFHQDegradationDataset


def _bgr_float(size: int, seed: int) -> np.ndarray:
    return synthetic_face(size, seed).astype(np.float32) / np.float32(255.0)


def _rgb(img_bgr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(img_bgr[..., ::-1])


def _recorded_kernels(deg, monkeypatch, draws: int, seed: int) -> list[tuple[dict, np.ndarray]]:
    """Run BasicSR's random_mixed_kernels `draws` times, recording each kernel's parameters."""
    calls = []
    original = deg.bivariate_Gaussian

    def recording(kernel_size, sig_x, sig_y, theta, grid=None, isotropic=True):
        calls.append({"sigma_x": sig_x, "sigma_y": sig_y, "theta": theta, "isotropic": isotropic})
        return original(kernel_size, sig_x, sig_y, theta, grid=grid, isotropic=isotropic)

    monkeypatch.setattr(deg, "bivariate_Gaussian", recording)
    np.random.seed(seed)
    import random

    random.seed(seed)
    kernels = [
        deg.random_mixed_kernels(["iso", "aniso"], [0.5, 0.5], 41, [0.1, 10], [0.1, 10], [-math.pi, math.pi], None)
        for _ in range(draws)
    ]
    return list(zip(calls, kernels, strict=True))


def test_kernel_matches_basicsr(deg, monkeypatch):
    records = _recorded_kernels(deg, monkeypatch, draws=40, seed=1)
    assert {r[0]["isotropic"] for r in records} == {True, False}
    for params, reference in records:
        ours = F.gaussian_kernel(41, params["sigma_x"], params["sigma_y"], params["theta"], params["isotropic"])
        record_abs_error("blur kernel", ours, reference, 1e-12)


def test_dense_blur_is_the_official_filter2d(deg, monkeypatch):
    img = _rgb(_bgr_float(96, 0))
    for params, kernel in _recorded_kernels(deg, monkeypatch, draws=6, seed=2):
        ours = F.blur(
            img, F.gaussian_kernel(41, params["sigma_x"], params["sigma_y"], params["theta"], params["isotropic"]), 0
        )
        record_abs_error("dense blur", ours, cv2.filter2D(img, -1, kernel), 0.0)


def test_fast_blur_within_its_bound_at_512(deg, monkeypatch):
    """The separable/trimmed blur stays within its 1e-4 bound of the dense 41x41 filter (far below 1/255)."""
    img = _rgb(_bgr_float(512, 3))
    for params, kernel in _recorded_kernels(deg, monkeypatch, draws=12, seed=3):
        ours = F.blur(
            img, F.gaussian_kernel(41, params["sigma_x"], params["sigma_y"], params["theta"], params["isotropic"])
        )
        record_abs_error("fast blur vs filter2D", ours, cv2.filter2D(img, -1, kernel), F.BLUR_TOLERANCE)


def test_fast_blur_worst_case_kernels():
    """Thin rotated lines (high rank), near-delta, axis-aligned and near-degenerate kernels, plus 150 random ones."""
    img = np.random.default_rng(0).random((64, 64, 3), dtype=np.float32)
    cases = [
        (10, 0.1, math.pi / 4),
        (0.1, 0.1, 0),
        (10, 10, 0),
        (7, 0.5, 0.3),
        (0.3, 9, -2.0),
        (5, 5, 0.7),
        (6, 6.001, math.pi / 4),
        (4, 1, math.pi / 2),
        (9.9, 0.2, 0.0),
        (2, 3, -math.pi),
    ]
    rng = np.random.default_rng(1)
    cases += [(rng.uniform(0.1, 10), rng.uniform(0.1, 10), rng.uniform(-math.pi, math.pi)) for _ in range(150)]
    for sx, sy, theta in cases:
        kernel = F.gaussian_kernel(41, sx, sy, theta, isotropic=False)
        record_abs_error("fast blur worst cases", F.blur(img, kernel), cv2.filter2D(img, -1, kernel), F.BLUR_TOLERANCE)


def test_downscale_and_resize_back_match_cv2():
    img = _rgb(_bgr_float(128, 4))
    for scale in (0.8, 1.7, 3.3, 8.0):
        out = T.RandomDownscale((scale, scale)).apply(img, scale=scale)
        h, w = img.shape[:2]
        reference = cv2.resize(img, (int(w // scale), int(h // scale)), interpolation=cv2.INTER_LINEAR)
        record_abs_error("downscale", out, reference, 0.0)
        back = T.ResizeBack()(image=out, **{T.INPUT_SHAPE: img.shape})["image"]
        record_abs_error("resize back", back, cv2.resize(out, (128, 128), interpolation=cv2.INTER_LINEAR), 0.0)


def test_noise_matches_basicsr(deg):
    img_bgr = _bgr_float(64, 5)
    for seed, sigma in [(0, 0.0), (1, 7.5), (2, 20.0)]:
        np.random.seed(seed)
        normals = np.random.randn(*img_bgr.shape)
        np.random.seed(seed)
        reference = deg.add_gaussian_noise(img_bgr, sigma=sigma, clip=True, rounds=False)
        ours = F.add_gaussian_noise(_rgb(img_bgr), sigma, _rgb(normals.astype(np.float32)))
        assert ours.dtype == reference.dtype
        record_abs_error("gaussian noise", ours, _rgb(reference), 0.0)


def test_random_noise_draw_order_matches_basicsr(deg):
    """random_add_gaussian_noise draws sigma, then the gray coin, then the field: same values through ours."""
    img_bgr = _bgr_float(64, 6)
    np.random.seed(7)
    sigma = np.random.uniform(0, 20)
    np.random.uniform()
    normals = np.random.randn(*img_bgr.shape)
    np.random.seed(7)
    reference = deg.random_add_gaussian_noise(img_bgr, [0, 20])
    ours = F.add_gaussian_noise(_rgb(img_bgr), sigma, _rgb(normals.astype(np.float32)))
    record_abs_error("random gaussian noise", ours, _rgb(reference), 0.0)


def test_jpeg_matches_basicsr(deg):
    img_bgr = np.clip(_bgr_float(80, 8) + np.random.default_rng(0).normal(0, 0.02, (80, 80, 3)), 0, 1)
    for quality in (60, 73, 99, 100):
        reference = deg.add_jpg_compression(img_bgr, quality)
        record_abs_error("jpeg", F.jpeg_compress(_rgb(img_bgr), quality), _rgb(reference), 0.0)


def test_jpeg_quality_is_the_truncated_draw(deg):
    np.random.seed(11)
    draw = np.random.uniform(60, 100)
    np.random.seed(11)
    img_bgr = _bgr_float(64, 9)
    reference = deg.random_add_jpg_compression(img_bgr, [60, 100])
    record_abs_error("random jpeg", F.jpeg_compress(_rgb(img_bgr), int(draw)), _rgb(reference), 0.0)


def test_color_shift_matches_official(official_dataset_cls):
    img_bgr = _bgr_float(64, 10)
    np.random.seed(3)
    offsets_bgr = np.random.uniform(-20 / 255, 20 / 255, 3).astype(np.float32)
    np.random.seed(3)
    reference = official_dataset_cls.color_jitter(img_bgr, 20 / 255)
    record_abs_error("colour shift", F.color_shift(_rgb(img_bgr), offsets_bgr[::-1]), _rgb(reference), 0.0)


def test_gray_matches_official():
    img_bgr = _bgr_float(64, 12)
    reference = np.tile(cv2.cvtColor(img_bgr, cv2.COLOR_BGR2GRAY)[:, :, None], [1, 1, 3])
    record_abs_error("grayscale", F.to_gray(_rgb(img_bgr)), reference, 0.0)


@pytest.mark.parametrize("seed", range(6))
def test_color_jitter_matches_official(official_dataset_cls, seed):
    ranges = {"brightness": (0.5, 1.5), "contrast": (0.5, 1.5), "saturation": (0, 1.5), "hue": (-0.1, 0.1)}
    names = list(ranges)
    img_rgb = _rgb(_bgr_float(64, 20 + seed))
    torch.manual_seed(seed)
    order = [int(i) for i in torch.randperm(4)]
    factors = {names[i]: torch.tensor(1.0).uniform_(*ranges[names[i]]).item() for i in order}
    torch.manual_seed(seed)
    reference = official_dataset_cls.color_jitter_pt(
        torch.from_numpy(img_rgb.transpose(2, 0, 1)).clone(), *ranges.values()
    )
    ours = F.color_jitter(img_rgb, order, factors)
    # torchvision computes hue in its own tensor code, FaceRevive through OpenCV's HSV: rounding-level differences.
    record_abs_error("colour jitter", ours, reference.permute(1, 2, 0).numpy(), 1e-5)


def test_quantize_matches_official():
    values = torch.rand(3, 64, 64) * 1.2 - 0.1
    reference = torch.clamp((values * 255.0).round(), 0, 255) / 255.0
    ours = F.quantize_8bit(values.permute(1, 2, 0).numpy())
    record_abs_error("8-bit rounding", ours, reference.permute(1, 2, 0).numpy(), 0.0)
