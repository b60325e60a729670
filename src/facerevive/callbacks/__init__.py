"""Lightning callbacks that run on GFPGANModule's iteration counter: checkpoints/exports and image grids."""

from facerevive.callbacks.checkpoint import IterationCheckpoint
from facerevive.callbacks.image_grid import ImageGridCallback

__all__ = ["ImageGridCallback", "IterationCheckpoint"]
