"""LightningModules of FaceRevive."""

from facerevive.models.ema import ema_update
from facerevive.models.export import atomic_save, generator_config
from facerevive.models.gfpgan_module import OFFICIAL_EMA_DECAY, GFPGANModule

__all__ = ["OFFICIAL_EMA_DECAY", "GFPGANModule", "atomic_save", "ema_update", "generator_config"]
