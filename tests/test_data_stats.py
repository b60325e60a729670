"""The drawn degradation parameters follow the configured distributions (fixed seeds, so results are stable).

Kolmogorov-Smirnov tests against the configured uniform ranges, binomial tests for probabilities, a chi-square
test for the colour-jitter order; each suite also checks that the same test rejects a wrong range, so it has
the power to fail.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from helpers.reference import official_ffhq_options
from scipy import stats
from test_data_support import gfpgan_v1, write_faces

from facerevive.data import FFHQDegradationDataset, degradation_from_options
from facerevive.data import transforms as T

pytestmark = pytest.mark.unit

N = 4000
ALPHA = 1e-4


def _draw(transform, count: int = N, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    import random

    transform.set_random_state(rng, random.Random(seed))
    return [transform.get_params() for _ in range(count)]


def _uniform_p(values, low: float, high: float) -> float:
    return stats.kstest(values, "uniform", args=(low, high - low)).pvalue


def test_blur_parameters():
    draws = _draw(T.RandomMixedGaussianBlur(41, ("iso", "aniso"), (0.5, 0.5), (0.1, 10), (0.1, 10)))
    aniso = [d for d in draws if d["kernel_type"] == "aniso"]
    iso = [d for d in draws if d["kernel_type"] == "iso"]
    assert stats.binomtest(len(aniso), N, 0.5).pvalue > ALPHA
    assert _uniform_p([d["sigma_x"] for d in draws], 0.1, 10) > ALPHA
    assert _uniform_p([d["sigma_y"] for d in aniso], 0.1, 10) > ALPHA
    assert _uniform_p([d["theta"] for d in aniso], -math.pi, math.pi) > ALPHA
    assert all(d["sigma_y"] == d["sigma_x"] and d["theta"] == 0 for d in iso)
    assert _uniform_p([d["sigma_x"] for d in draws], 0.1, 9) < 1e-6  # the test can reject a wrong range
    skewed = _draw(T.RandomMixedGaussianBlur(kernel_prob=(0.8, 0.2)))
    assert stats.binomtest(sum(d["kernel_type"] == "iso" for d in skewed), N, 0.8).pvalue > ALPHA


def test_downscale_noise_and_jpeg_parameters():
    scales = [d["scale"] for d in _draw(T.RandomDownscale((0.8, 8)))]
    assert _uniform_p(scales, 0.8, 8) > ALPHA
    noise = T.RandomGaussianNoise((0, 20))
    rng = np.random.default_rng(1)
    import random

    noise.set_random_state(rng, random.Random(1))
    image = np.zeros((16, 16, 3), np.float32)
    drawn = [noise.get_params_dependent_on_data({}, {"image": image}) for _ in range(N)]
    assert _uniform_p([d["sigma"] for d in drawn], 0, 20) > ALPHA
    normals = np.concatenate([d["normals"].ravel() for d in drawn[:200]])
    assert stats.kstest(normals, "norm").pvalue > ALPHA
    assert not any(d["gray_noise"] for d in drawn)
    quality = _draw(T.RandomJPEG((60, 100)))
    assert _uniform_p([d["quality_draw"] for d in quality], 60, 100) > ALPHA
    assert all(d["quality"] == int(d["quality_draw"]) for d in quality)
    assert {d["quality"] for d in quality} == set(range(60, 100))
    assert _uniform_p(scales, 0.8, 7) < 1e-6


def test_colour_parameters():
    offsets = np.array([d["offsets"] for d in _draw(T.RandomColorShift(20))])
    for channel in range(3):
        assert _uniform_p(offsets[:, channel], -20 / 255, 20 / 255) > ALPHA
    jitter = _draw(T.RandomColorJitter())
    counts = [sum(d["order"] == list(p) for d in jitter) for p in itertools.permutations(range(4))]
    assert stats.chisquare(counts).pvalue > ALPHA
    for name, (low, high) in {
        "brightness": (0.5, 1.5),
        "contrast": (0.5, 1.5),
        "saturation": (0, 1.5),
        "hue": (-0.1, 0.1),
    }.items():
        assert _uniform_p([d["factors"][name] for d in jitter], low, high) > ALPHA
    partial = _draw(T.RandomColorJitter(hue=None, saturation=None), count=10)
    assert all(set(d["factors"]) == {"brightness", "contrast"} for d in partial)


def test_step_probabilities_and_independent_draws():
    """Apply-or-not coins follow p, and steps sharing one stream are uncorrelated (albumentations' seed pitfall)."""
    pipeline = gfpgan_v1("data.degradation.steps.gray.p=0.05", "data.degradation.record=true")
    pipeline.reseed(3)
    image = np.full((8, 8, 3), 0.5, np.float32)
    runs = 2000
    applied = [dict(pipeline(image.copy())["applied"]) for _ in range(runs)]
    for name, p in (("RandomColorShift", 0.3), ("RandomGrayscale", 0.05), ("RandomColorJitter", 0.3)):
        assert stats.binomtest(sum(name in a for a in applied), runs, p).pvalue > ALPHA, name
    sigma = [a["RandomMixedGaussianBlur"]["sigma_x"] for a in applied]
    scale = [a["RandomDownscale"]["scale"] for a in applied]
    assert abs(stats.pearsonr(sigma, scale).statistic) < 0.1


def test_flip_probability(tmp_path):
    write_faces(tmp_path / "faces", 1, 16)
    dataset = FFHQDegradationDataset(tmp_path / "faces", gfpgan_v1(), out_size=16)
    dataset.reseed(0)
    flips = sum(dataset.generate(0)[1]["hflip"] for _ in range(600))
    assert stats.binomtest(flips, 600, 0.5).pvalue > ALPHA
    no_flip = FFHQDegradationDataset(tmp_path / "faces", gfpgan_v1(), out_size=16, use_hflip=False)
    assert not any(no_flip.generate(0)[1]["hflip"] for _ in range(50))


@pytest.mark.parametrize("bad", [{"blur_sigma": (5, 1)}, {"kernel_prob": (0.3, 0.3)}, {"jpeg_range": (60, 120)}])
def test_invalid_ranges_fail_clearly(bad):
    with pytest.raises(ValueError):
        degradation_from_options(official_ffhq_options("faces", **bad))
