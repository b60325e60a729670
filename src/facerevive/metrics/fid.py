"""FID with pytorch-fid's port of the TF-FID Inception-v3 (`pt_inception-2015-12-05-6726825d.pth`).

Convention: images RGB, [0, 1], NCHW, any size; they are resized to 299x299 (bilinear, align_corners False)
and mapped to [-1, 1] inside, exactly as pytorch-fid's `InceptionV3(resize_input=True, normalize_input=True)`
and BasicSR's FID (which pre-normalises with mean/std 0.5). Features are the 2048-d pool3 activations.

Reference statistics are either a file (BasicSR's `inception_FFHQ_512-f7b384ab.pth` dict with `mean`/`cov`,
or a pytorch-fid `.npz` with `mu`/`sigma`) or computed from a GT folder and cached under a hash of the folder's
content and of the Inception weights, written atomically so a killed run never leaves a half-written cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facerevive.metrics.assets import find_weight
from facerevive.utils.files import atomic_write
from facerevive.utils.images import unit_to_signed
from facerevive.weights.checkpoint import numpy_array_globals, safe_load


def _fid_inception_trunk() -> nn.Module:
    """The TF-FID Inception graph (pytorch-fid's patched blocks), randomly initialised."""
    from pytorch_fid import inception as pf

    net = pf._inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
    net.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pf.FIDInceptionE_1(1280)
    net.Mixed_7c = pf.FIDInceptionE_2(2048)
    return cast(nn.Module, net)


def random_inception_trunk(seed: int = 0) -> nn.Module:
    """The TF-FID Inception with random weights whose features still depend on the image (He-initialised
    convolutions, identity batch norms): for tests and benchmarks, where the real file cannot be had."""
    trunk = _fid_inception_trunk()
    generator = torch.Generator().manual_seed(seed)
    for module in trunk.modules():
        if isinstance(module, nn.Conv2d):
            fan_in = module.weight[0].numel()
            module.weight.data.normal_(0, (2.0 / fan_in) ** 0.5, generator=generator)
        elif isinstance(module, nn.BatchNorm2d):
            module.reset_parameters()
            cast(torch.Tensor, module.running_var).uniform_(0.5, 1.5, generator=generator)
    return trunk


class FIDInception(nn.Module):
    """Pool3 features of the TF-FID Inception; `FIDInception.from_file()` loads the official weights.
    `channels_last` runs it on NHWC activations (faster on CPU, equal to round-off)."""

    def __init__(self, trunk_state: dict[str, Any] | None = None, channels_last: bool = True) -> None:
        super().__init__()
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        t: Any = _fid_inception_trunk()  # its blocks are read by name below
        if trunk_state is not None:
            t.load_state_dict(trunk_state, strict=True)
        self.body = nn.Sequential(
            t.Conv2d_1a_3x3, t.Conv2d_2a_3x3, t.Conv2d_2b_3x3, nn.MaxPool2d(3, 2),
            t.Conv2d_3b_1x1, t.Conv2d_4a_3x3, nn.MaxPool2d(3, 2),
            t.Mixed_5b, t.Mixed_5c, t.Mixed_5d, t.Mixed_6a, t.Mixed_6b, t.Mixed_6c, t.Mixed_6d, t.Mixed_6e,
            t.Mixed_7a, t.Mixed_7b, t.Mixed_7c, nn.AdaptiveAvgPool2d(1),
        )  # fmt: skip
        self.requires_grad_(False)
        self.eval()
        self.body.to(memory_format=self.memory_format)

    @classmethod
    def from_file(cls, path: str | Path | None = None, channels_last: bool = True) -> FIDInception:
        weights = find_weight(path or "fid_inception")
        return cls(torch.load(weights, map_location="cpu", weights_only=True), channels_last)

    @torch.inference_mode()
    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """(N, 2048) pool3 features of RGB [0, 1] NCHW images."""
        x = F.interpolate(img, size=(299, 299), mode="bilinear", align_corners=False)
        features: torch.Tensor = self.body(unit_to_signed(x).contiguous(memory_format=self.memory_format))
        return features.flatten(1)


@dataclass
class FIDStats:
    """Mean and covariance of Inception features (float64)."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int = 0
    # Centred features when the statistics were just computed (not saved): a faster exact FID when few.
    centered: np.ndarray | None = None

    @classmethod
    def from_features(cls, features: np.ndarray) -> FIDStats:
        features = np.asarray(features, dtype=np.float64)
        if features.shape[0] < 2:
            raise ValueError(f"FID needs at least 2 images, got {features.shape[0]}")
        mu = features.mean(axis=0)
        return cls(mu, np.cov(features, rowvar=False), features.shape[0], features - mu)

    @classmethod
    def load(cls, path: str | Path) -> FIDStats:
        """BasicSR `.pth` ({'mean', 'cov'}) or pytorch-fid / FaceRevive `.npz` ({'mu', 'sigma'})."""
        path = find_weight(path)
        if path.suffix == ".npz":
            with np.load(path) as data:
                if "mu" not in data or "sigma" not in data:
                    raise ValueError(f"{path}: FID statistics need 'mu' and 'sigma', found {sorted(data.files)}")
                return cls(data["mu"].astype(np.float64), data["sigma"].astype(np.float64), int(data.get("count", 0)))
        data = safe_load(path, numpy_array_globals())
        if not isinstance(data, dict) or "mean" not in data or "cov" not in data:
            raise ValueError(f"{path}: FID statistics need keys 'mean' and 'cov'")
        return cls(np.asarray(data["mean"], np.float64), np.asarray(data["cov"], np.float64))

    def save(self, path: str | Path) -> None:
        """Write atomically (facerevive.utils.files): a killed run never leaves a half-written cache."""

        def write(tmp: Path) -> None:
            with tmp.open("wb") as handle:  # a handle: np.savez would append .npz to a bare path
                np.savez(handle, mu=self.mu, sigma=self.sigma, count=self.count)

        atomic_write(path, write)


def _trace_sqrt_product(a: FIDStats, b: FIDStats) -> float:
    """Tr((S_a S_b)^1/2) = sum of the square roots of the eigenvalues of S_a S_b.

    Those eigenvalues are the ones of a symmetric PSD matrix, so a symmetric eigensolver applies:
    - few samples (n <= d): S_a = X^T X / (n - 1) with X the centred features, and S_a S_b has the nonzero
      eigenvalues of X S_b X^T / (n - 1), an n x n matrix;
    - otherwise: those of S_a^1/2 S_b S_a^1/2 (S_a^1/2 from a symmetric eigendecomposition).
    Round-off can leave eigenvalues slightly below zero: they are clipped to 0.
    """
    if a.centered is not None and a.centered.shape[0] <= a.centered.shape[1]:
        x = a.centered
        product = x @ b.sigma @ x.T / (x.shape[0] - 1)
    else:
        values, vectors = np.linalg.eigh(a.sigma)
        root = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
        product = root @ b.sigma @ root
    eig = np.linalg.eigvalsh((product + product.T) / 2)
    return float(np.sqrt(np.clip(eig, 0, None)).sum())


def frechet_distance(a: FIDStats, b: FIDStats) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2), the value of pytorch-fid's
    `calculate_frechet_distance`, computed with symmetric eigensolvers instead of scipy's iterative `sqrtm`
    (several times faster; exact in exact arithmetic)."""
    if a.mu.shape != b.mu.shape or a.sigma.shape != b.sigma.shape:
        raise ValueError(f"FID statistics differ in dimension: {a.mu.shape} vs {b.mu.shape}")
    diff = a.mu - b.mu
    return float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2 * _trace_sqrt_product(a, b))


def folder_fingerprint(files: Iterable[str | Path], network: str) -> str:
    """Content hash of a set of images (names and bytes) and of the feature network's identity:
    the key of a statistics cache, so a changed, added or removed image gives a new key."""
    digest = hashlib.sha256(network.encode())
    for file in sorted(Path(f) for f in files):
        digest.update(file.name.encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()[:16]
