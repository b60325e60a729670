"""LightningModules of FaceRevive (GFPGAN, its StyleGAN2 prior) and the training pieces they share (iteration base,
EMA, RNG, optimisers, speed switches)."""

from facerevive.models.base import IterationModule
from facerevive.models.ema import OFFICIAL_EMA_DECAY, ema_update
from facerevive.models.export import generator_config
from facerevive.models.gfpgan_module import GFPGANLossWeights, GFPGANModule
from facerevive.models.nonfinite import NonFiniteError, NonFiniteGuard
from facerevive.models.optim import lazy_r1_adam
from facerevive.models.stylegan2_module import StyleGAN2Module

__all__ = [
    "OFFICIAL_EMA_DECAY",
    "GFPGANLossWeights",
    "GFPGANModule",
    "IterationModule",
    "NonFiniteError",
    "NonFiniteGuard",
    "StyleGAN2Module",
    "ema_update",
    "generator_config",
    "lazy_r1_adam",
]
