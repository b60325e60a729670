"""NIQE (Mittal et al. 2013) with MATLAB parity, batched.

Convention: RGB, [0, 1], NCHW; one score per image, (N,), lower is better. Protocol of BasicSR's
`calculate_niqe` / VQFR's `calculate_niqe.py`: the MATLAB Y channel on the 0-255 scale, rounded; the image
cropped to whole 96x96 blocks (top-left corner kept); 18 natural-scene features per block at two scales (the
second one after a MATLAB bicubic 0.5 resize); the multivariate Gaussian fitted to the blocks compared with the
pristine model shipped in `data/niqe_pris_params.npz`.

Precision follows BasicSR, whose numbers the GFPGAN-lineage papers report: the image, its local mean and
variance, the normalised image and the half-size image are float32 (filters accumulate in float64 and round to
float32, as scipy.ndimage does for float32 input); the block statistics and the final distance are float64.
This matters: the local variance E[x^2] - E[x]^2 cancels in float32 on flat regions, so an all-float64 NIQE
differs from BasicSR by about 0.03 on scikit-image's astronaut (3.092 vs 3.065), far more than round-off.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import gamma

from facerevive.metrics.color import rgb_to_y
from facerevive.metrics.filters import separable_valid
from facerevive.metrics.matlab_resize import imresize

BLOCK = 96
# Pixel offsets of the four pairwise products (horizontal, vertical, two diagonals), with wrap-around.
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
_ARGMIN_CHUNK = 2048


@lru_cache(maxsize=1)
def pristine_params() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mu 36, cov 36x36, 7x7 Gaussian window) of the MATLAB NIQE pristine model."""
    with resources.files("facerevive.metrics").joinpath("data/niqe_pris_params.npz").open("rb") as handle:
        data = np.load(handle)
        return data["mu_pris_param"].reshape(-1), data["cov_pris_param"], data["gaussian_window"]


@lru_cache(maxsize=4)
def _aggd_tables(device: torch.device) -> tuple[torch.Tensor, ...]:
    """Candidate shapes alpha (0.2 .. 10 by 0.001), their moment ratio and the two gamma ratios used later."""
    alpha = np.arange(0.2, 10.001, 0.001)
    ratio = gamma(2 / alpha) ** 2 / (gamma(1 / alpha) * gamma(3 / alpha))
    beta_factor = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    mean_factor = gamma(2 / alpha) / gamma(1 / alpha)
    return tuple(torch.from_numpy(a).to(device) for a in (alpha, ratio, beta_factor, mean_factor))


def _aggd(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric generalised Gaussian fit of each row of x (M, P): alpha, beta_l, beta_r, mean."""
    alpha_grid, ratio_grid, beta_factor, mean_factor = _aggd_tables(x.device)
    sq = x * x
    neg, pos = x < 0, x > 0
    zero = sq.new_zeros(())
    # NaN when a block has no negative value, as numpy
    left = torch.where(neg, sq, zero).sum(1).div(neg.sum(1)).sqrt()
    right = torch.where(pos, sq, zero).sum(1).div(pos.sum(1)).sqrt()
    g = left / right
    rhat = x.abs().mean(1) ** 2 / sq.mean(1)
    rhat_norm = rhat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    index = torch.cat(
        [(ratio_grid[None] - chunk[:, None]).pow(2).argmin(1) for chunk in torch.split(rhat_norm, _ARGMIN_CHUNK)]
    )
    index = torch.where(torch.isnan(rhat_norm), torch.zeros_like(index), index)  # numpy's argmin of all-NaN
    beta_l, beta_r = left * beta_factor[index], right * beta_factor[index]
    return alpha_grid[index], beta_l, beta_r, (beta_r - beta_l) * mean_factor[index]


def _block_features(blocks: torch.Tensor) -> torch.Tensor:
    """(M, 18) NIQE features of M normalised blocks (M, h, w)."""
    flat = blocks.flatten(1)
    alpha, beta_l, beta_r, _ = _aggd(flat)
    feats = [alpha, (beta_l + beta_r) / 2]
    for shift in _SHIFTS:
        product = (blocks * torch.roll(blocks, shifts=shift, dims=(1, 2))).flatten(1)
        alpha, beta_l, beta_r, mean = _aggd(product)
        feats += [alpha, mean, beta_l, beta_r]
    return torch.stack(feats, dim=1)


def _separable(window: np.ndarray) -> tuple[list[float], list[float]]:
    """Row and column factors of the (rank-one) Gaussian window: two 1-D passes instead of one 2-D pass."""
    rows, cols = window.sum(axis=1), window.sum(axis=0)
    if not np.allclose(np.outer(rows, cols), window, rtol=0, atol=1e-15):
        raise ValueError("the NIQE window is expected to be a separable Gaussian")
    return rows.tolist(), cols.tolist()


def _smooth(x: torch.Tensor, rows: list[float], cols: list[float]) -> torch.Tensor:
    pad = len(rows) // 2
    return separable_valid(F.pad(x, (pad,) * 4, mode="replicate"), rows, cols)


def _normalised(img: torch.Tensor, rows: list[float], cols: list[float]) -> torch.Tensor:
    """Mean-subtracted, contrast-normalised (MSCN) float32 image, (N, H, W), of a float32 image; borders
    replicated (scipy's 'nearest'); the filters sum in float64 and round to float32 like scipy.ndimage."""
    x = img[:, None]
    x64 = x.double()
    mu = _smooth(x64, rows, cols).float()
    second = _smooth(x64 * x64, rows, cols).float()
    sigma = (second - mu * mu).abs().sqrt()
    return ((x - mu) / (sigma + 1))[:, 0]


def _blocks(img: torch.Tensor, bh: int, bw: int) -> torch.Tensor:
    n, h, w = img.shape
    grid = img.reshape(n, h // bh, bh, w // bw, bw).permute(0, 1, 3, 2, 4)
    return grid.reshape(n, -1, bh, bw)


def niqe_y(y255: torch.Tensor) -> torch.Tensor:
    """NIQE of rounded Y images on the 0-255 scale, (N, H, W) -> (N,); NaN below two 96x96 blocks."""
    mu_p, cov_p, window = pristine_params()
    n, h, w = y255.shape
    nbh, nbw = h // BLOCK, w // BLOCK
    if nbh * nbw < 2:
        # One block gives no covariance (BasicSR fails inside pinv): the score is undefined, reported as NaN.
        return torch.full((n,), float("nan"), dtype=torch.float64)
    img = y255[:, : nbh * BLOCK, : nbw * BLOCK].float()
    rows, cols = _separable(window)
    per_scale = []
    for scale in (1, 2):
        bh, bw = BLOCK // scale, BLOCK // scale
        blocks = _blocks(_normalised(img, rows, cols), bh, bw)
        per_scale.append(_block_features(blocks.reshape(-1, bh, bw).double()).reshape(n, nbh * nbw, 18))
        if scale == 1:
            img = imresize((img / 255.0).double(), 0.5).float() * 255.0
    feats = torch.cat(per_scale, dim=2).cpu().numpy()
    scores = []
    for f in feats:
        mu = np.nanmean(f, axis=0)
        cov = np.cov(f[~np.isnan(f).any(axis=1)], rowvar=False)
        d = mu_p - mu
        scores.append(float(np.sqrt(d @ np.linalg.pinv((cov_p + cov) / 2) @ d)))
    return torch.tensor(scores, dtype=torch.float64)


def niqe(img: torch.Tensor, crop_border: int = 0) -> torch.Tensor:
    """NIQE per image, (N,), of RGB [0, 1] NCHW images (Y channel, as the GFPGAN-lineage scripts)."""
    # BasicSR: float32 x/255, the weighted sum in float64, then float32 again before the x255 and the rounding.
    y = ((rgb_to_y(img.float().double()).float()) * 255.0)[:, 0]
    if crop_border:
        y = y[:, crop_border:-crop_border, crop_border:-crop_border]
    return niqe_y(y.round())
