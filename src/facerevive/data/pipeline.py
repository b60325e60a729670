"""A degradation pipeline: an ordered albumentations Compose with one explicit random stream.

`gfpgan_degradations()` builds the official GFPGAN order with the official numbers as defaults
(options/train_gfpgan_v1.yml). Any albumentations transform can be placed in the list; in Hydra configs the
steps are a name -> transform mapping, so a step can be overridden or switched off (`null`) by name.

Why one stream: albumentations' `Compose(seed=s)` seeds every transform with the *same* seed, so two transforms
would draw identical first numbers (blur sigma and downscale factor would be correlated). `reseed` instead hands
all transforms one shared `numpy.random.Generator` and one `random.Random`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np

from facerevive.data import transforms as T

TransformSpec = Sequence[Any] | Mapping[str, Any]


def gfpgan_degradations(
    out_size: int = 512,
    blur_kernel_size: int = 41,
    kernel_list: Sequence[str] = ("iso", "aniso"),
    kernel_prob: Sequence[float] = (0.5, 0.5),
    blur_sigma: Sequence[float] = (0.1, 10.0),
    downsample_range: Sequence[float] = (0.8, 8.0),
    noise_range: Sequence[float] | None = (0.0, 20.0),
    jpeg_range: Sequence[float] | None = (60.0, 100.0),
    color_jitter_prob: float | None = 0.3,
    color_jitter_shift: float = 20.0,
    gray_prob: float | None = 0.01,
    gt_gray: bool = False,
    color_jitter_pt_prob: float | None = 0.3,
    brightness: Sequence[float] | None = (0.5, 1.5),
    contrast: Sequence[float] | None = (0.5, 1.5),
    saturation: Sequence[float] | None = (0.0, 1.5),
    hue: Sequence[float] | None = (-0.1, 0.1),
    blur_tolerance: float = 1e-4,
) -> dict[str, A.BasicTransform]:
    """The official degradation steps in order, keyed by step name; a None range/probability drops the step.

    The names of the arguments are the official option keys, so a BasicSR options file maps over directly.
    """
    steps: dict[str, A.BasicTransform] = {
        "blur": T.RandomMixedGaussianBlur(
            blur_kernel_size, kernel_list, kernel_prob, blur_sigma, blur_sigma, (-math.pi, math.pi), blur_tolerance
        ),
        "downscale": T.RandomDownscale(downsample_range),
    }
    if noise_range is not None:
        steps["noise"] = T.RandomGaussianNoise(noise_range)
    if jpeg_range is not None:
        steps["jpeg"] = T.RandomJPEG(jpeg_range)
    steps["resize_back"] = A.Resize(out_size, out_size, interpolation=cv2.INTER_LINEAR, p=1.0)
    if color_jitter_prob is not None:
        steps["color_shift"] = T.RandomColorShift(color_jitter_shift, p=color_jitter_prob)
    if gray_prob:
        steps["gray"] = T.RandomGrayscale(apply_to_gt=gt_gray, p=gray_prob)
    if color_jitter_pt_prob is not None:
        steps["color_jitter"] = T.RandomColorJitter(brightness, contrast, saturation, hue, p=color_jitter_pt_prob)
    steps["quantize"] = T.Quantize8Bit()
    return steps


def _as_list(spec: TransformSpec) -> list[A.BasicTransform]:
    items = list(spec.values()) if isinstance(spec, Mapping) else list(spec)
    steps = [step for step in items if step is not None]
    for step in steps:
        if not isinstance(step, A.BasicTransform | A.BaseCompose):
            raise TypeError(f"degradation steps must be albumentations transforms, got {type(step).__name__}")
    return steps


class DegradationPipeline:
    """Apply degradation steps to an LQ image (and the 'gt' image for steps that declare it).

    Args:
        steps: albumentations transforms in order, or a name -> transform mapping (None entries are skipped).
            Defaults to `gfpgan_degradations()`.
        record: keep each applied step's drawn parameters (`applied` in the result); for tests and replay.
    """

    def __init__(self, steps: TransformSpec | None = None, record: bool = False) -> None:
        self.steps = _as_list(gfpgan_degradations() if steps is None else steps)
        self.record = record
        self.compose = A.Compose(self.steps, p=1.0, save_applied_params=record, strict=False)
        self.reseed(None)

    def reseed(self, seed: int | None) -> None:
        """Give all steps one shared numpy Generator and Python Random seeded with `seed`."""
        self.rng = np.random.default_rng(seed)
        self.py_random = random.Random(None if seed is None else int(seed))
        self.compose.set_random_state(self.rng, self.py_random)

    def __call__(self, lq: np.ndarray, gt: np.ndarray | None = None) -> dict[str, Any]:
        """Degrade `lq` (float HWC RGB [0, 1]); returns {'image': lq, 'gt': gt, 'applied': [(name, params)]}."""
        data = {"image": lq} if gt is None else {"image": lq, "gt": gt}
        out = self.compose(**data)
        out.setdefault("gt", gt)
        out["applied"] = out.pop("applied_transforms", [])
        return out

    def __repr__(self) -> str:
        return f"DegradationPipeline({[type(s).__name__ for s in self.steps]})"
