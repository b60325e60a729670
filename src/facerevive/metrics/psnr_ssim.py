"""PSNR and SSIM on batches, numerically the BasicSR definitions, with the VQFR mean/variance correction.

Convention: `restored` and `gt` are RGB, [0, 1], NCHW tensors of the same shape; the result is one value per
image, shape (N,). Scores are computed in float64 on the 0-255 scale as BasicSR does (`calculate_psnr`,
`calculate_ssim`): PSNR from the mean squared error over all pixels and channels; SSIM with the 11x11
Gaussian window (sigma 1.5) over the valid region, C1 = (0.01*255)^2, C2 = (0.03*255)^2, averaged over channels.
"""

from __future__ import annotations

import torch

from facerevive.metrics.color import rgb_to_y
from facerevive.metrics.filters import separable_valid

_SSIM_C1 = (0.01 * 255) ** 2
_SSIM_C2 = (0.03 * 255) ** 2


def correct_mean_var(restored: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Match each channel's mean and (population) std of `restored` to `gt`, twice, as VQFR's
    metric_paper/calculate_psnr_ssim.py does before scoring (its `--correct_mean_var`, always on).

    The scripts apply it in the BGR order; it is per channel, so the order does not matter.
    """
    gt_mean = gt.mean(dim=(2, 3), keepdim=True)
    gt_std = gt.std(dim=(2, 3), keepdim=True, unbiased=False)
    out = restored
    for _ in range(2):
        out = out - out.mean(dim=(2, 3), keepdim=True) + gt_mean
        out = out / out.std(dim=(2, 3), keepdim=True, unbiased=False) * gt_std
    return out


def _prepare(
    restored: torch.Tensor, gt: torch.Tensor, y_channel: bool, correct: bool, crop_border: int
) -> tuple[torch.Tensor, torch.Tensor]:
    if restored.shape != gt.shape:
        raise ValueError(f"restored {tuple(restored.shape)} and gt {tuple(gt.shape)} differ in shape")
    restored, gt = restored.double(), gt.double()
    if correct:
        restored = correct_mean_var(restored, gt)
    if y_channel:
        restored, gt = rgb_to_y(restored), rgb_to_y(gt)
    if crop_border:
        restored = restored[..., crop_border:-crop_border, crop_border:-crop_border]
        gt = gt[..., crop_border:-crop_border, crop_border:-crop_border]
    return restored * 255.0, gt * 255.0


def psnr(
    restored: torch.Tensor,
    gt: torch.Tensor,
    y_channel: bool = False,
    correct: bool = False,
    crop_border: int = 0,
) -> torch.Tensor:
    """PSNR in dB per image, (N,); infinite for identical images, like BasicSR."""
    return _psnr(*_prepare(restored, gt, y_channel, correct, crop_border))


def _psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    mse = (a - b).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(255.0**2 / mse)


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> list[float]:
    # Same normalised samples as cv2.getGaussianKernel(11, 1.5), which BasicSR's SSIM uses.
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    return (kernel / kernel.sum()).tolist()


def ssim(
    restored: torch.Tensor,
    gt: torch.Tensor,
    y_channel: bool = False,
    correct: bool = False,
    crop_border: int = 0,
) -> torch.Tensor:
    """SSIM per image, (N,), the mean over channels of the mean SSIM map."""
    return _ssim(*_prepare(restored, gt, y_channel, correct, crop_border))


def psnr_ssim(
    restored: torch.Tensor,
    gt: torch.Tensor,
    y_channel: bool = False,
    correct: bool = False,
    crop_border: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(PSNR, SSIM) per image from one conversion (and one mean/variance correction) of the pair."""
    a, b = _prepare(restored, gt, y_channel, correct, crop_border)
    return _psnr(a, b), _ssim(a, b)


def _ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if min(a.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels, got {tuple(a.shape[-2:])}")
    kernel = _gaussian_1d()

    def blur(x: torch.Tensor) -> torch.Tensor:  # cv2.filter2D with the 11x11 window, then the 5-pixel crop
        return separable_valid(x, kernel, kernel)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + _SSIM_C1) * (2 * cov + _SSIM_C2)) / (
        (mu_a**2 + mu_b**2 + _SSIM_C1) * (var_a + var_b + _SSIM_C2)
    )
    return ssim_map.mean(dim=(2, 3)).mean(dim=1)
