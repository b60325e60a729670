"""Deterministic degradation operations: every random quantity is an argument.

These functions are the numerical core of the GFPGAN training degradations (blur, downsample, noise, JPEG,
colour shift, grayscale, torchvision-style colour jitter, 8-bit rounding). Images are float32 HWC RGB arrays in
[0, 1]. The random draws live in `facerevive.data.transforms`; keeping the arithmetic here, free of randomness,
is what lets the parity tests feed identical parameters to this code and to BasicSR.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from numpy.typing import ArrayLike
from torchvision.transforms import functional as TF

from facerevive.data.image_io import to_float_rgb, to_uint8

# The tolerance of the fast blur against an exact 2-D convolution, in [0, 1] image units (1/255 = 3.9e-3).
BLUR_TOLERANCE = 1e-4


def gaussian_kernel(
    size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, isotropic: bool = True
) -> np.ndarray:
    """A normalised (size, size) float64 Gaussian kernel, isotropic or rotated anisotropic.

    The covariance is R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T on a grid centred at zero, the same
    definition as BasicSR's `bivariate_Gaussian`, so kernels built from the same parameters agree to rounding.
    """
    if size % 2 != 1:
        raise ValueError(f"blur kernel size must be odd, got {size}")
    axis = np.arange(size, dtype=np.float64) - size // 2
    xx, yy = np.meshgrid(axis, axis)
    if isotropic:
        cov = np.diag([sigma_x**2, sigma_x**2])
    else:
        cos, sin = np.cos(theta), np.sin(theta)
        rot = np.array([[cos, -sin], [sin, cos]])
        cov = rot @ np.diag([sigma_x**2, (sigma_y if sigma_y is not None else sigma_x) ** 2]) @ rot.T
    inv = np.linalg.inv(cov)
    quad = inv[0, 0] * xx * xx + (inv[0, 1] + inv[1, 0]) * xx * yy + inv[1, 1] * yy * yy
    kernel = np.exp(-0.5 * quad)
    return kernel / kernel.sum()


def _trim_kernel(kernel: np.ndarray, budget: float) -> np.ndarray:
    """Drop outer rings of the kernel while their total absolute weight stays under `budget`."""
    size = kernel.shape[0]
    dropped = 0.0
    radius = size // 2
    while radius > 0:
        inner = kernel[1:-1, 1:-1]
        ring = np.abs(kernel).sum() - np.abs(inner).sum()
        if dropped + ring > budget:
            break
        dropped += ring
        kernel = inner
        radius -= 1
    return kernel


def _separable_cost_ms(size: int) -> float:
    """Measured cost of one `cv2.sepFilter2D` pass with (anti)symmetric 1-D kernels on 512x512x3 float32, one
    thread: 3.1 ms at 41 taps. OpenCV has fast paths for symmetric and antisymmetric kernels, which is why the
    kernels handed to it are made exactly (anti)symmetric (`_symmetrize`)."""
    return 0.075 * size


# From this image side on, `_correlate_dft` beats `cv2.filter2D`'s own DFT (measured: 2x at 512, slower at 128).
DFT_MIN_SIDE = 256


def _direct_cost_ms(size: int) -> float:
    """Measured cost of a direct `cv2.filter2D` on the same image."""
    return 0.02 * size * size


def _dense_cost_ms(size: int, large: bool) -> float:
    """Measured cost of the dense correlation `_dense` picks: direct for small kernels, else a DFT, which costs
    10.3 ms in `cv2.filter2D` and 5.0 ms in `_correlate_dft` (whatever the kernel size: one padded DFT size)."""
    return min(_direct_cost_ms(size), 5.0 if large else 10.3)


def _dense(img: np.ndarray, kernel: np.ndarray, large: bool) -> np.ndarray:
    """One 2-D correlation with `kernel`: `_correlate_dft` where it is the cheapest, else `cv2.filter2D`
    (`large`: the image's shorter side is at least DFT_MIN_SIDE)."""
    size = kernel.shape[0]
    if large and _dense_cost_ms(size, large) < _direct_cost_ms(size):
        return _correlate_dft(img, kernel)
    return cv2.filter2D(img, -1, kernel)


def _correlate_dft(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """`cv2.filter2D(img, -1, kernel)` (reflect-101 borders) as a product of OpenCV DFTs, channel by channel.

    The image is padded by the kernel radius (reflect-101) up to a fast DFT size; correlating with the kernel
    placed at the origin reads only rows and columns below h + 2r and w + 2r for the first h x w outputs, so the
    circular wrap never reaches them and the padding beyond is never read. `cv2.filter2D` does the same with
    tiles and in about twice the time on 512x512 images; float32 rounding stays below 1e-6.
    """
    height, width = img.shape[:2]
    size = kernel.shape[0]
    radius = size // 2
    rows = cv2.getOptimalDFTSize(height + 2 * radius)
    cols = cv2.getOptimalDFTSize(width + 2 * radius)
    padded = cv2.copyMakeBorder(
        img, radius, rows - height - radius, radius, cols - width - radius, cv2.BORDER_REFLECT_101
    )
    placed = np.zeros((rows, cols), np.float32)
    placed[:size, :size] = kernel
    spectrum = cv2.dft(placed, nonzeroRows=size)
    planes = []
    for plane in cv2.split(padded):
        product = cv2.mulSpectrums(cv2.dft(plane), spectrum, 0, conjB=True)
        inverse = cv2.idft(product, flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT, nonzeroRows=height)
        planes.append(inverse[:height, :width])
    return cv2.merge(planes)


def _symmetrize(vector: np.ndarray) -> np.ndarray:
    """Make a 1-D kernel exactly symmetric or antisymmetric, whichever it nearly is.

    A Gaussian kernel is point-symmetric (K(x, y) = K(-x, -y)), so its marginals and singular vectors are
    (anti)symmetric up to rounding; removing the rounding lets OpenCV use its (anti)symmetric fast path.
    """
    mirrored = vector[::-1]
    if np.dot(vector, mirrored) >= 0:
        return (vector + mirrored) / 2
    return (vector - mirrored) / 2


def blur(img: np.ndarray, kernel: np.ndarray, tolerance: float = BLUR_TOLERANCE) -> np.ndarray:
    """Correlate `img` with `kernel` (reflect-101 borders, as `cv2.filter2D`), fast.

    The official pipeline spends most of its time in a dense 41x41 `cv2.filter2D`. Here the kernel is first
    trimmed of outer rings that carry almost no weight, then split by SVD into the fewest separable rank-1
    terms whose dropped singular part is small; each term is one `cv2.sepFilter2D`. The total absolute error
    against the dense correlation is bounded by `tolerance` (the trimmed weight plus the sum of |K - K_r|),
    because pixels lie in [0, 1]. When the kernel needs too many terms (thin rotated lines) the trimmed
    kernel goes to one dense correlation (`_dense`: a DFT product on large images, else `cv2.filter2D`).
    `tolerance=0` always uses the dense `cv2.filter2D`, bit-identical to BasicSR.
    """
    if tolerance <= 0:
        return cv2.filter2D(img, -1, kernel)
    kernel = _trim_kernel(kernel, tolerance / 2)
    size = kernel.shape[0]
    if size == 1:
        return (img * np.float32(kernel[0, 0])).astype(np.float32)
    rows, cols = kernel.sum(axis=1), kernel.sum(axis=0)
    if np.abs(np.outer(rows, cols) - kernel).sum() <= tolerance / 2:
        # Separable already (isotropic): the marginals are the two 1-D kernels, symmetric up to rounding.
        return cv2.sepFilter2D(img, -1, _symmetrize(cols), _symmetrize(rows), borderType=cv2.BORDER_REFLECT_101)
    # OpenCV's SVD runs on the OpenBLAS bundled with OpenCV, whose pool `limit_worker_threads` keeps to one
    # thread in DataLoader workers (`facerevive.data.worker_threads`).
    s, u, vt = cv2.SVDecomp(kernel)
    s = s[:, 0]
    rank = size
    approx = np.zeros_like(kernel)
    for r in range(size):
        approx += s[r] * np.outer(u[:, r], vt[r])
        if np.abs(kernel - approx).sum() <= tolerance / 2:
            rank = r + 1
            break
    large = min(img.shape[:2]) >= DFT_MIN_SIDE
    if rank * _separable_cost_ms(size) >= _dense_cost_ms(size, large):
        return _dense(img, kernel, large)
    terms = [(u[:, r] * np.sqrt(s[r]), vt[r] * np.sqrt(s[r])) for r in range(rank)]
    symmetric = [(_symmetrize(column), _symmetrize(row)) for column, row in terms]
    # Equal singular values could mix symmetric and antisymmetric vectors; keep the symmetrised terms only when
    # they still meet the bound.
    if np.abs(kernel - sum(np.outer(c, r) for c, r in symmetric)).sum() <= tolerance / 2:
        terms = symmetric
    (column, row), *rest = terms
    out = cv2.sepFilter2D(img, -1, row, column, borderType=cv2.BORDER_REFLECT_101)
    for column, row in rest:
        out = cv2.add(out, cv2.sepFilter2D(img, -1, row, column, borderType=cv2.BORDER_REFLECT_101))
    return out


def downsampled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """(height, width) after dividing by `scale` and flooring, the official `int(w // scale)` rule."""
    return int(height // scale), int(width // scale)


def resize(img: np.ndarray, height: int, width: int, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """`cv2.resize` to (height, width); bilinear by default, as both official resizes."""
    return cv2.resize(img, (width, height), interpolation=interpolation)


def add_gaussian_noise(img: np.ndarray, sigma: float, normals: np.ndarray) -> np.ndarray:
    """Add `normals * sigma / 255` and clip to [0, 1].

    `normals` are standard-normal draws of the image's shape. The arithmetic is float32 with sigma as a Python
    float, exactly BasicSR's `generate_gaussian_noise` (numpy's legacy `uniform` returns Python floats, so the
    official noise never promotes to float64).
    """
    noise = normals.astype(np.float32, copy=False) * float(sigma) / 255.0
    return np.clip(img + noise, 0, 1)


def jpeg_compress(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode as JPEG at integer `quality` and decode; RGB float in, float32 RGB out.

    The encoder sees the same 8-bit BGR image as BasicSR's `add_jpg_compression` (OpenCV rounds
    half-to-even when it narrows a float image, which `to_uint8` reproduces), so outputs are identical.
    """
    as_uint8 = to_uint8(img)
    ok, encoded = cv2.imencode(".jpg", as_uint8[..., ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise RuntimeError("OpenCV failed to JPEG-encode an image")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("OpenCV failed to decode the JPEG it had just encoded")
    return to_float_rgb(decoded)


def color_shift(img: np.ndarray, shift: ArrayLike) -> np.ndarray:
    """Add a per-channel offset (RGB order, [0, 1] units) and clip: the official numpy colour jitter."""
    return np.clip(img + np.asarray(shift, dtype=np.float32), 0, 1)


def to_gray(img: np.ndarray) -> np.ndarray:
    """Luma (0.299 R + 0.587 G + 0.114 B, OpenCV's weights) repeated on three channels.

    Converted from a BGR view with COLOR_BGR2GRAY, the official call, so the float sums come out bit-identical.
    """
    gray = cv2.cvtColor(np.ascontiguousarray(img[..., ::-1]), cv2.COLOR_BGR2GRAY)
    return np.repeat(gray[:, :, None], 3, axis=2)


def color_jitter(img: np.ndarray, order: Sequence[int], factors: dict[str, float]) -> np.ndarray:
    """torchvision colour jitter applied in `order` (0 brightness, 1 contrast, 2 saturation, 3 hue).

    `factors` maps 'brightness' / 'contrast' / 'saturation' / 'hue' to the drawn factor; a missing name is
    skipped. Brightness, contrast and saturation are torchvision's own tensor functions; hue goes through
    OpenCV's float HSV conversion, which computes the same hexcone model about 20x faster than torchvision's
    tensor code (agreement is checked by the parity tests).
    """
    tensor = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)
    for fn_id in order:
        if fn_id == 0 and "brightness" in factors:
            tensor = TF.adjust_brightness(tensor, factors["brightness"])
        elif fn_id == 1 and "contrast" in factors:
            tensor = TF.adjust_contrast(tensor, factors["contrast"])
        elif fn_id == 2 and "saturation" in factors:
            tensor = TF.adjust_saturation(tensor, factors["saturation"])
        elif fn_id == 3 and "hue" in factors:
            tensor = torch.from_numpy(adjust_hue(tensor.permute(1, 2, 0).numpy(), factors["hue"])).permute(2, 0, 1)
    return np.ascontiguousarray(tensor.permute(1, 2, 0).numpy())


def adjust_hue(img: np.ndarray, hue_factor: float) -> np.ndarray:
    """Rotate hue by `hue_factor` turns (in [-0.5, 0.5]) like `torchvision.transforms.functional.adjust_hue`."""
    hsv = cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32), cv2.COLOR_RGB2HSV)
    hue = hsv[:, :, 0] / np.float32(360.0) + np.float32(hue_factor)
    hsv[:, :, 0] = np.mod(hue, np.float32(1.0)) * np.float32(360.0)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def quantize_8bit(img: np.ndarray) -> np.ndarray:
    """Round to the 8-bit grid and clip: `clamp(round(x * 255), 0, 255) / 255` in float32."""
    out = np.rint(img.astype(np.float32, copy=False) * np.float32(255.0))
    np.clip(out, 0, 255, out=out)
    return out / np.float32(255.0)
