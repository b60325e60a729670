"""Lightning callbacks that run on the training iteration counter (IterationModule): checkpoints, exports, grids,
StyleGAN2 prior samples and FID, stopping on signals, the run config kept in checkpoints, the progress line,
the network summary, the NaN/Inf guard's rollback and the optional learning-rate monitor."""

from facerevive.callbacks.checkpoint import IterationCheckpoint, StorageError
from facerevive.callbacks.checkpoint_io import AtomicCheckpointIO
from facerevive.callbacks.image_grid import ImageGridCallback
from facerevive.callbacks.interrupt import StopOnSignal, TrainingInterrupted
from facerevive.callbacks.lr_monitor import IterationLRMonitor
from facerevive.callbacks.prior_samples import PriorSamplesCallback
from facerevive.callbacks.progress import IterationProgressBar
from facerevive.callbacks.rollback import NonFiniteRollback
from facerevive.callbacks.run_config import RunConfig
from facerevive.callbacks.summary import NetworkSummary

__all__ = [
    "AtomicCheckpointIO",
    "ImageGridCallback",
    "IterationCheckpoint",
    "IterationLRMonitor",
    "IterationProgressBar",
    "NetworkSummary",
    "NonFiniteRollback",
    "PriorSamplesCallback",
    "RunConfig",
    "StopOnSignal",
    "StorageError",
    "TrainingInterrupted",
]
