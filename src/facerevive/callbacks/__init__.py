"""Lightning callbacks that run on the training iteration counter (IterationModule): checkpoints, exports, grids,
stopping on signals, and the run config kept in checkpoints."""

from facerevive.callbacks.checkpoint import IterationCheckpoint, StorageError
from facerevive.callbacks.checkpoint_io import AtomicCheckpointIO
from facerevive.callbacks.image_grid import ImageGridCallback
from facerevive.callbacks.interrupt import StopOnSignal, TrainingInterrupted
from facerevive.callbacks.run_config import RunConfig

__all__ = [
    "AtomicCheckpointIO",
    "ImageGridCallback",
    "IterationCheckpoint",
    "RunConfig",
    "StopOnSignal",
    "StorageError",
    "TrainingInterrupted",
]
