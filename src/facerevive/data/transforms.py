"""The GFPGAN degradation steps as albumentations transforms.

albumentations has no exact equivalent of the official blur (mixed iso/aniso Gaussian with a fixed 41x41 support),
noise (sigma on the 255 scale, float64 sum), JPEG (integer quality drawn from a float range), colour shift,
gray-with-GT and torchvision colour jitter, so each is a small `ImageOnlyTransform` subclass: `get_params` draws
the random quantities from the transform's generators, `apply` calls the deterministic function in
`facerevive.data.degradations`. `ResizeBack` returns the LQ to the size the pipeline was given (the official
bilinear `cv2.resize` to the GT size), so a pipeline holds no image size of its own. Images are float HWC RGB in
[0, 1].

Draws use `self.random_generator` (numpy) and `self.py_random` (the apply-or-not coin). `DegradationPipeline`
gives every transform the same two generators, so a pipeline has one reproducible random stream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np

from facerevive.data import degradations as F

KERNEL_TYPES = ("iso", "aniso")
JITTER_NAMES = ("brightness", "contrast", "saturation", "hue")
# The data key under which `DegradationPipeline` hands its steps the (h, w) of the image it was given.
INPUT_SHAPE = "input_shape"


def _check_range(name: str, value: Sequence[float], low: float | None = None) -> tuple[float, float]:
    if len(value) != 2 or value[0] > value[1]:
        raise ValueError(f"{name} must be a [min, max] pair with min <= max, got {list(value)}")
    if low is not None and value[0] < low:
        raise ValueError(f"{name} must not go below {low}, got {list(value)}")
    return float(value[0]), float(value[1])


class _DegradationTransform(A.ImageOnlyTransform):
    """Shared plumbing: the 'gt' key passes through untouched unless a subclass maps it."""

    _init_names: tuple[str, ...] = ()

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return self._init_names


class RandomMixedGaussianBlur(_DegradationTransform):
    """Blur with a Gaussian kernel whose type (iso/aniso), sigmas and angle are drawn per sample.

    Official: kernel type by `kernel_prob`; sigma_x ~ U(sigma_x_range); for aniso also sigma_y ~ U(sigma_y_range)
    and theta ~ U(rotation_range); kernel `kernel_size` square; reflect-101 borders. `tolerance` bounds the
    absolute error of the fast separable blur against the dense one (0 = dense `cv2.filter2D`).
    """

    _init_names = (
        "kernel_size",
        "kernel_list",
        "kernel_prob",
        "sigma_x_range",
        "sigma_y_range",
        "rotation_range",
        "tolerance",
        "p",
    )

    def __init__(
        self,
        kernel_size: int = 41,
        kernel_list: Sequence[str] = KERNEL_TYPES,
        kernel_prob: Sequence[float] = (0.5, 0.5),
        sigma_x_range: Sequence[float] = (0.1, 10.0),
        sigma_y_range: Sequence[float] = (0.1, 10.0),
        rotation_range: Sequence[float] = (-math.pi, math.pi),
        tolerance: float = F.BLUR_TOLERANCE,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        unknown = set(kernel_list) - set(KERNEL_TYPES)
        if unknown:
            raise ValueError(f"kernel_list may contain {KERNEL_TYPES}, got {sorted(unknown)}")
        if len(kernel_prob) != len(kernel_list) or not math.isclose(sum(kernel_prob), 1.0):
            raise ValueError(f"kernel_prob must give one probability per kernel type summing to 1, got {kernel_prob}")
        self.kernel_size = int(kernel_size)
        self.kernel_list = tuple(kernel_list)
        self.kernel_prob = tuple(float(x) for x in kernel_prob)
        self.sigma_x_range = _check_range("sigma_x_range", sigma_x_range, low=1e-6)
        self.sigma_y_range = _check_range("sigma_y_range", sigma_y_range, low=1e-6)
        self.rotation_range = _check_range("rotation_range", rotation_range)
        self.tolerance = float(tolerance)

    def get_params(self) -> dict[str, Any]:
        rng = self.random_generator
        kind = self.kernel_list[int(rng.choice(len(self.kernel_list), p=self.kernel_prob))]
        sigma_x = float(rng.uniform(*self.sigma_x_range))
        if kind == "aniso":
            sigma_y = float(rng.uniform(*self.sigma_y_range))
            theta = float(rng.uniform(*self.rotation_range))
        else:
            sigma_y, theta = sigma_x, 0.0
        return {"kernel_type": kind, "sigma_x": sigma_x, "sigma_y": sigma_y, "theta": theta}

    def apply(
        self, img: np.ndarray, kernel_type: str, sigma_x: float, sigma_y: float, theta: float, **params: Any
    ) -> np.ndarray:
        kernel = F.gaussian_kernel(self.kernel_size, sigma_x, sigma_y, theta, isotropic=kernel_type == "iso")
        return F.blur(img, kernel, self.tolerance)


class RandomDownscale(_DegradationTransform):
    """Resize by 1/r with r ~ U(scale_range) to (int(h // r), int(w // r)); r < 1 enlarges (official rule)."""

    _init_names = ("scale_range", "interpolation", "p")

    def __init__(
        self, scale_range: Sequence[float] = (0.8, 8.0), interpolation: int = cv2.INTER_LINEAR, p: float = 1.0
    ) -> None:
        super().__init__(p=p)
        self.scale_range = _check_range("scale_range", scale_range, low=1e-6)
        self.interpolation = int(interpolation)

    def get_params(self) -> dict[str, Any]:
        return {"scale": float(self.random_generator.uniform(*self.scale_range))}

    def apply(self, img: np.ndarray, scale: float, **params: Any) -> np.ndarray:
        height, width = F.downsampled_size(img.shape[0], img.shape[1], scale)
        if height < 1 or width < 1:
            raise ValueError(f"downscaling {img.shape[:2]} by {scale} leaves an empty image")
        return F.resize(img, height, width, self.interpolation)


class ResizeBack(_DegradationTransform):
    """Resize the LQ back to the size of the pipeline's input (`DegradationPipeline` passes it as INPUT_SHAPE).

    Official: bilinear `cv2.resize` to the GT size after downscale, noise and JPEG.
    """

    _init_names = ("interpolation", "p")

    def __init__(self, interpolation: int = cv2.INTER_LINEAR, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.interpolation = int(interpolation)

    @property
    def targets_as_params(self) -> list[str]:
        return [INPUT_SHAPE]

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        height, width = data[INPUT_SHAPE][:2]
        return {"height": int(height), "width": int(width)}

    def apply(self, img: np.ndarray, height: int, width: int, **params: Any) -> np.ndarray:
        return F.resize(img, height, width, self.interpolation)


class RandomGaussianNoise(_DegradationTransform):
    """Add Gaussian noise with sigma ~ U(sigma_range) on the 255 scale, colour (or gray with `gray_prob`), clipped."""

    _init_names = ("sigma_range", "gray_prob", "p")

    def __init__(self, sigma_range: Sequence[float] = (0.0, 20.0), gray_prob: float = 0.0, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.sigma_range = _check_range("sigma_range", sigma_range, low=0.0)
        if not 0.0 <= gray_prob <= 1.0:
            raise ValueError(f"gray_prob must be in [0, 1], got {gray_prob}")
        self.gray_prob = float(gray_prob)

    @property
    def targets_as_params(self) -> list[str]:
        return ["image"]

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        rng = self.random_generator
        shape = data["image"].shape
        sigma = float(rng.uniform(*self.sigma_range))
        gray = bool(rng.random() < self.gray_prob)
        if gray:
            normals = np.repeat(rng.standard_normal(shape[:2], dtype=np.float32)[:, :, None], shape[2], axis=2)
        else:
            normals = rng.standard_normal(shape, dtype=np.float32)
        return {"sigma": sigma, "gray_noise": gray, "normals": normals}

    def apply(self, img: np.ndarray, sigma: float, normals: np.ndarray, **params: Any) -> np.ndarray:
        return F.add_gaussian_noise(img, sigma, normals)


class RandomJPEG(_DegradationTransform):
    """JPEG round trip at quality int(q), q ~ U(quality_range).

    The official code draws a float quality and the encoder keeps its integer part, so with (60, 100) the
    qualities are 60..99 and 100 is never used; kept for parity.
    """

    _init_names = ("quality_range", "p")

    def __init__(self, quality_range: Sequence[float] = (60.0, 100.0), p: float = 1.0) -> None:
        super().__init__(p=p)
        self.quality_range = _check_range("quality_range", quality_range, low=0.0)
        if self.quality_range[1] > 100:
            raise ValueError(f"JPEG quality goes up to 100, got {list(quality_range)}")

    def get_params(self) -> dict[str, Any]:
        quality = float(self.random_generator.uniform(*self.quality_range))
        return {"quality_draw": quality, "quality": int(quality)}

    def apply(self, img: np.ndarray, quality: int, **params: Any) -> np.ndarray:
        return F.jpeg_compress(img, quality)


class RandomColorShift(_DegradationTransform):
    """Add one offset per channel, each ~ U(-shift, shift) with `shift` on the 255 scale, then clip (LQ only)."""

    _init_names = ("shift", "p")

    def __init__(self, shift: float = 20.0, p: float = 0.3) -> None:
        super().__init__(p=p)
        if shift < 0:
            raise ValueError(f"shift must be >= 0, got {shift}")
        self.shift = float(shift)

    def get_params(self) -> dict[str, Any]:
        limit = self.shift / 255.0
        return {"offsets": self.random_generator.uniform(-limit, limit, 3).astype(np.float32)}

    def apply(self, img: np.ndarray, offsets: np.ndarray, **params: Any) -> np.ndarray:
        return F.color_shift(img, offsets)


class RandomGrayscale(_DegradationTransform):
    """Convert to 3-channel luma; with `apply_to_gt` the 'gt' image is converted too (the no-colourisation recipe)."""

    _init_names = ("apply_to_gt", "p")

    def __init__(self, apply_to_gt: bool = False, p: float = 0.01) -> None:
        self.apply_to_gt = bool(apply_to_gt)
        super().__init__(p=p)

    @property
    def targets(self) -> dict[str, Any]:
        targets = dict(super().targets)
        if self.apply_to_gt:
            targets["gt"] = self.apply
        return targets

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        return F.to_gray(img)


class RandomColorJitter(_DegradationTransform):
    """torchvision-style colour jitter: the four adjustments in a random order, each factor ~ U(range).

    A range set to None skips that adjustment (and its draw), as in the official `color_jitter_pt`.
    """

    _init_names = ("brightness", "contrast", "saturation", "hue", "p")

    def __init__(
        self,
        brightness: Sequence[float] | None = (0.5, 1.5),
        contrast: Sequence[float] | None = (0.5, 1.5),
        saturation: Sequence[float] | None = (0.0, 1.5),
        hue: Sequence[float] | None = (-0.1, 0.1),
        p: float = 0.3,
    ) -> None:
        super().__init__(p=p)
        self.brightness = None if brightness is None else _check_range("brightness", brightness, low=0.0)
        self.contrast = None if contrast is None else _check_range("contrast", contrast, low=0.0)
        self.saturation = None if saturation is None else _check_range("saturation", saturation, low=0.0)
        self.hue: tuple[float, float] | None = None
        if hue is not None:
            self.hue = _check_range("hue", hue, low=-0.5)
            if self.hue[1] > 0.5:
                raise ValueError(f"hue must lie in [-0.5, 0.5], got {list(hue)}")

    def get_params(self) -> dict[str, Any]:
        rng = self.random_generator
        order = [int(i) for i in rng.permutation(4)]
        factors = {}
        for fn_id in order:
            name = JITTER_NAMES[fn_id]
            bounds = getattr(self, name)
            if bounds is not None:
                factors[name] = float(rng.uniform(*bounds))
        return {"order": order, "factors": factors}

    def apply(self, img: np.ndarray, order: list[int], factors: dict[str, float], **params: Any) -> np.ndarray:
        return F.color_jitter(img.astype(np.float32, copy=False), order, factors)


class Quantize8Bit(_DegradationTransform):
    """Round the LQ to the 8-bit grid: what a saved LQ image would hold."""

    _init_names = ("p",)

    def __init__(self, p: float = 1.0) -> None:
        super().__init__(p=p)

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        return F.quantize_8bit(img)
