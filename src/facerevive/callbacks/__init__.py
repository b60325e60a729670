"""Lightning callbacks that run on the training iteration counter (IterationModule): checkpoints, exports, grids."""

from facerevive.callbacks.checkpoint import IterationCheckpoint
from facerevive.callbacks.image_grid import ImageGridCallback

__all__ = ["ImageGridCallback", "IterationCheckpoint"]
