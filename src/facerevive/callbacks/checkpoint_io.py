"""Lightning checkpoint writing that stays in the destination folder (no staging in the system temp dir)."""

from __future__ import annotations

from typing import Any

from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO

from facerevive.utils.files import atomic_torch_save


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose writes go to a temporary file beside the target, then a rename.

    Lightning's own writer stages local files in the system temp folder (fsspec transactions), which a SIGKILL
    leaks there; this one leaves at most a `.<name>.*.tmp` beside the target, which `IterationCheckpoint` removes
    at the next start.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"AtomicCheckpointIO takes no storage_options, got {storage_options!r}")
        atomic_torch_save(checkpoint, path)
