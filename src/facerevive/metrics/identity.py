"""Identity metrics from ArcFace embeddings: the GFPGAN paper's Deg., RestoreFormer++'s IDD and IDS.

Convention: RGB, [0, 1], NCHW, any size. Each face is turned into the network's input by the one function the
GFPGAN identity loss uses too (`facerevive.losses.face_losses.gray_for_identity`, GFPGAN's
`gray_resize_for_identity`): gray = 0.2989 R + 0.5870 G + 0.1140 B on the [-1, 1] scale, resized bilinearly to
128x128 (align_corners False). The network is `facerevive.archs.ResNetArcFace` (IRBlock,
[2, 2, 2, 2], no SE) with GFPGAN's `arcface_resnet18.pth`.

Per pair, with c the cosine similarity of the two embeddings:
- Deg. = arccos(c) in degrees. As VQFR's metric_paper/calculate_cos_dist.py, the mean leaves out pairs under 1
  degree (counted as "identical", e.g. an untouched input) and reports how many were left out.
- IDD = arccos(c) in radians (RestoreFormer++ cal_identity_distance.py), plain mean.
- IDS = c (CodeFormer-lineage papers), plain mean, higher is better.

Known differences with the scripts (documented, not reproduced): VQFR reads gray with cv2 (uint8 rounding of the
BT.601 weights) and resizes with cv2, and used ronghuaiyang's `resnet18_110.pth` (same architecture); RF++
feeds cv2's BGR arrays in [0, 1] to the same gray formula, so its weights multiply B, G, R.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import cast

import torch
from torch import nn

from facerevive.archs import ResNetArcFace
from facerevive.losses.face_losses import gray_for_identity
from facerevive.metrics.assets import find_weight
from facerevive.utils.images import unit_to_signed

DEG_IDENTICAL_BELOW = 1.0


def build_arcface(weights: str | Path | None = "arcface") -> nn.Module:
    """ResNetArcFace-18 in eval mode; `weights=None` keeps random weights (tests)."""
    from facerevive.weights import load_checkpoint

    net = ResNetArcFace(block="IRBlock", layers=(2, 2, 2, 2), use_se=False)
    if weights is not None:
        load_checkpoint(net, find_weight(weights), key="params")
    return cast(nn.Module, net.eval().requires_grad_(False))


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine similarity of two (N, D) embedding batches, in float64."""
    a, b = a.double(), b.double()
    norms: torch.Tensor = a.norm(dim=1) * b.norm(dim=1)
    return (a * b).sum(1) / norms


def angle(cos: torch.Tensor) -> torch.Tensor:
    """arccos in radians; the cosine is clamped to [-1, 1] first (round-off can leave it just outside)."""
    return torch.arccos(cos.clamp(-1.0, 1.0))


def degrees(cos: torch.Tensor) -> torch.Tensor:
    return angle(cos) / math.pi * 180.0


def mean_degrees(values: list[float]) -> tuple[float, int]:
    """VQFR's Deg.: the mean over pairs of at least 1 degree, and how many pairs were below it."""
    kept = [v for v in values if v >= DEG_IDENTICAL_BELOW]
    left_out = len(values) - len(kept)
    return (sum(kept) / len(kept) if kept else float("nan")), left_out


class IdentityEmbedder(nn.Module):
    """ArcFace embeddings of RGB [0, 1] faces, batched."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    @torch.no_grad()
    def forward(self, img: torch.Tensor) -> torch.Tensor:
        embedding: torch.Tensor = self.net(gray_for_identity(unit_to_signed(img)))
        return embedding
