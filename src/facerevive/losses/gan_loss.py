"""Adversarial losses and the R1 gradient penalty, with BasicSR's conventions (weight only on the G side)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

GAN_TYPES = ("vanilla", "wgan_softplus")


class GANLoss(nn.Module):
    """Adversarial loss on discriminator logits.

    - 'vanilla': binary cross-entropy with logits against `real_label_val` / `fake_label_val`;
    - 'wgan_softplus': softplus(-x) for real targets, softplus(x) for fake ones (the non-saturating
      logistic loss of StyleGAN2).
    `loss_weight` scales the generator side only; discriminator losses are unweighted (as in BasicSR).
    """

    def __init__(
        self, gan_type: str, real_label_val: float = 1.0, fake_label_val: float = 0.0, loss_weight: float = 1.0
    ) -> None:
        super().__init__()
        if gan_type not in GAN_TYPES:
            raise ValueError(f"unknown gan_type {gan_type!r}; supported: {GAN_TYPES}")
        self.gan_type = gan_type
        self.real_label_val = real_label_val
        self.fake_label_val = fake_label_val
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target_is_real: bool, is_disc: bool = False) -> torch.Tensor:
        if self.gan_type == "wgan_softplus":
            loss = F.softplus(-pred).mean() if target_is_real else F.softplus(pred).mean()
        else:
            value = self.real_label_val if target_is_real else self.fake_label_val
            loss = F.binary_cross_entropy_with_logits(pred, torch.full_like(pred, value))
        return loss if is_disc else loss * self.loss_weight


def r1_penalty(real_pred: torch.Tensor, real_img: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the squared gradient norm of D's real logits w.r.t. the real images.

    `real_img` must require grad and `real_pred` must come from it; the graph is kept so the penalty can be
    back-propagated into D (Mescheder et al. 2018; the lazy variant of StyleGAN2 scales it by the interval).
    """
    (grad,) = torch.autograd.grad(outputs=real_pred.sum(), inputs=real_img, create_graph=True)
    return grad.pow(2).reshape(grad.shape[0], -1).sum(1).mean()
