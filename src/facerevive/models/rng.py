"""A random stream owned by the training module, saved in checkpoints so that resuming is exact.

The generator draws its noise maps from torch's global RNG. Swapping in the module's own state for the
duration of a training step makes those draws independent of anything else that uses the global RNG
(data loading, sampler shuffles, iterator seeds), which Lightning does not restore on resume.
Every state is kept as plain data (tensors, numbers, strings, tuples) so that checkpoints load with
`torch.load(..., weights_only=True)`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import numpy as np
import torch


class RNGStream:
    """CPU (and current CUDA device) RNG states used only inside `active()`."""

    def __init__(self, seed: int | None = 0) -> None:
        self.seed = seed
        self.cpu_state: torch.Tensor | None = None
        self.cuda_state: torch.Tensor | None = None

    def _fresh_state(self, offset: int) -> torch.Tensor:
        generator = torch.Generator()
        if self.seed is None:
            generator.seed()
        else:
            generator.manual_seed(self.seed + offset)
        return generator.get_state()

    def reset(self, rank: int = 0) -> None:
        """Start the stream from `seed + rank` (BasicSR seeds each rank with seed + rank)."""
        self.cpu_state = self._fresh_state(rank)
        self.cuda_state = None

    @contextmanager
    def active(self, device: torch.device, rank: int = 0) -> Iterator[None]:
        """Within the block torch's global CPU (and `device`'s CUDA) RNG run on this stream's state."""
        if self.cpu_state is None:
            self.reset(rank)
        assert self.cpu_state is not None
        saved_cpu = torch.get_rng_state()
        torch.set_rng_state(self.cpu_state)
        cuda_index = None
        if device.type == "cuda":
            cuda_index = device.index if device.index is not None else torch.cuda.current_device()
            saved_cuda = torch.cuda.get_rng_state(cuda_index)
            if self.cuda_state is None:
                torch.cuda.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
            else:
                torch.cuda.set_rng_state(self.cuda_state, cuda_index)
        try:
            yield
        finally:
            self.cpu_state = torch.get_rng_state()
            torch.set_rng_state(saved_cpu)
            if cuda_index is not None:
                self.cuda_state = torch.cuda.get_rng_state(cuda_index)
                torch.cuda.set_rng_state(saved_cuda, cuda_index)

    def state_dict(self) -> dict[str, Any]:
        """Seed and the current states (tensors or None)."""
        return {"seed": self.seed, "cpu": self.cpu_state, "cuda": self.cuda_state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from what `state_dict` returned."""
        self.seed = state.get("seed", self.seed)
        self.cpu_state = state.get("cpu")
        self.cuda_state = state.get("cuda")


def global_rng_states() -> dict[str, Any]:
    """torch (CPU and every CUDA device), numpy and Python `random` global states, as plain data.

    numpy's MT19937 key array is stored as an int64 tensor (a numpy array would need full unpickling).
    """
    numpy_state = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state(legacy=True))
    kind, keys, position, has_gauss, cached_gaussian = numpy_state
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached_gaussian)),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_global_rng_states(states: dict[str, Any]) -> None:
    """Restore what `global_rng_states` returned (CUDA states only where CUDA is in use).

    The numpy state of checkpoints written before the plain-data format (a numpy key array) is accepted too.
    """
    torch.set_rng_state(states["torch"])
    kind, keys, *rest = states["numpy"]
    keys = keys.numpy() if torch.is_tensor(keys) else np.asarray(keys)
    np.random.set_state((kind, keys.astype(np.uint32), *rest))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
