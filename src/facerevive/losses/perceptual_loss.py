"""VGG perceptual loss with a Gram-matrix style term (Johnson et al. 2016), as GFPGAN trains it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from facerevive.archs.vgg_arch import VGGFeatureExtractor

CRITERIA = ("l1", "l2", "fro")


def gram_matrix(x: torch.Tensor) -> torch.Tensor:
    """Gram matrix of (N,C,H,W) features, normalised by C*H*W: (N,C,C)."""
    n, c, h, w = x.shape
    features = x.reshape(n, c, h * w)
    return features.bmm(features.transpose(1, 2)) / (c * h * w)


def _distance(criterion: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if criterion == "l1":
        return F.l1_loss(a, b)
    if criterion == "l2":
        return F.mse_loss(a, b)
    norm: torch.Tensor = torch.linalg.vector_norm(a - b)
    return norm


def _layer_sum(terms: Iterable[torch.Tensor]) -> torch.Tensor:
    """Python `sum` of the per-layer terms, as GFPGAN adds them (start 0, then left to right)."""
    # Never the int start alone: VGGFeatureExtractor rejects an empty layer list, so there is always a term.
    return cast(torch.Tensor, sum(terms))


class PerceptualLoss(nn.Module):
    """Weighted feature distance (perceptual) and Gram distance (style) between output and target.

    Returns `(perceptual, style)`; a term whose weight is 0 is returned as None and not computed.
    A layer whose weight is 0 adds exactly 0 to both terms, so it is not extracted at all: the VGG ends at the
    deepest weighted layer (a config that merges over the recipe's five layers switches one off with weight 0).
    The VGG network is frozen; its weights come from `model.init.perceptual` (facerevive.models.init_weights).
    """

    def __init__(
        self,
        layer_weights: Mapping[str, float],
        vgg_type: str = "vgg19",
        use_input_norm: bool = True,
        range_norm: bool = False,
        perceptual_weight: float = 1.0,
        style_weight: float = 0.0,
        criterion: str = "l1",
    ) -> None:
        super().__init__()
        if criterion not in CRITERIA:
            raise ValueError(f"unknown perceptual criterion {criterion!r}; supported: {CRITERIA}")
        self.layer_weights = {name: weight for name, weight in layer_weights.items() if weight != 0}
        if not self.layer_weights:
            raise ValueError(f"perceptual layer_weights {dict(layer_weights)} weights no layer; set perceptual=null")
        self.perceptual_weight = perceptual_weight
        self.style_weight = style_weight
        self.criterion = criterion
        self.vgg = VGGFeatureExtractor(
            layer_name_list=list(self.layer_weights),
            vgg_type=vgg_type,
            use_input_norm=use_input_norm,
            range_norm=range_norm,
        )
        self.vgg.eval()

    def train(self, mode: bool = True) -> PerceptualLoss:
        """The feature network stays in eval mode whatever the trainer asks."""
        super().train(mode)
        self.vgg.eval()
        return self

    def forward(self, x: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        x_features = self.vgg(x)
        gt_features = self.vgg(gt.detach())
        percep: torch.Tensor | None = None
        if self.perceptual_weight > 0:
            percep = _layer_sum(
                _distance(self.criterion, x_features[k], gt_features[k]) * self.layer_weights[k] for k in x_features
            )
            percep = percep * self.perceptual_weight
        style: torch.Tensor | None = None
        if self.style_weight > 0:
            style = _layer_sum(
                _distance(self.criterion, gram_matrix(x_features[k]), gram_matrix(gt_features[k]))
                * self.layer_weights[k]
                for k in x_features
            )
            style = style * self.style_weight
        return percep, style
