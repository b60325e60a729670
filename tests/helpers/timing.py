"""A callback timing each training batch (one GFPGAN iteration), for the DDP runs and the device check."""

from __future__ import annotations

import time

import lightning as L
import torch


class IterationTimer(L.Callback):
    """Wall seconds of each training batch, from its start to its end (data loading not included); on CUDA the
    device is synchronised at both ends, so that queued kernels count in the iteration that launched them."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        _sync(pl_module.device)
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        _sync(pl_module.device)
        self.seconds.append(time.perf_counter() - self._start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
