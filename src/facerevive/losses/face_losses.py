"""Face-specific pieces of the GFPGAN objective: GT pyramid, component style, identity input."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from facerevive.losses.perceptual_loss import gram_matrix

# ITU-R BT.601 luma weights, as GFPGAN feeds ArcFace.
GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute error, reduced as BasicSR's L1Loss does (elementwise, then mean) for bitwise parity."""
    return (a - b).abs().mean()


def image_pyramid(gt: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """`levels` images from coarsest to `gt` itself, each half the size of the next (bilinear)."""
    pyramid = [gt]
    for _ in range(levels - 1):
        pyramid.insert(0, F.interpolate(pyramid[0], scale_factor=0.5, mode="bilinear", align_corners=False))
    return pyramid


def component_style_loss(
    fake_feats: Sequence[torch.Tensor], real_feats: Sequence[torch.Tensor], layer_weights: Sequence[float] = (0.5, 1.0)
) -> torch.Tensor:
    """L1 between Gram matrices of component-discriminator features (conv3, conv5), the real ones detached."""
    terms = [
        l1(gram_matrix(fake), gram_matrix(real.detach())) * w
        for fake, real, w in zip(fake_feats, real_feats, layer_weights, strict=True)
    ]
    total = terms[0]
    for term in terms[1:]:  # left to right, as sum() adds them
        total = total + term
    return total


def gray_for_identity(x: torch.Tensor, size: int = 128) -> torch.Tensor:
    """RGB (N,3,H,W) on the [-1, 1] scale -> luma (N,1,size,size), bilinear: the input ArcFace expects.

    The one ArcFace input conversion: the identity loss and the identity metrics (facerevive.metrics.identity)
    both use it."""
    gray = GRAY_WEIGHTS[0] * x[:, 0] + GRAY_WEIGHTS[1] * x[:, 1] + GRAY_WEIGHTS[2] * x[:, 2]
    return F.interpolate(gray.unsqueeze(1), (size, size), mode="bilinear", align_corners=False)
