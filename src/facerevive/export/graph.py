"""The network an export traces: a GFPGAN generator as a pure function of the face (and its noise maps).

`noise='fixed'` bakes the generator's stored noise buffers into the graph (the official
`randomize_noise=False`); `noise='input'` makes one noise map per decoder layer a graph input, so a runtime
draws them (official inference draws fresh noise on every call) and can reproduce PyTorch from a seed.
Inputs and output stay float32 whatever `dtype` the network runs in.
"""

from __future__ import annotations

from typing import Any, Literal, cast

import torch
from torch import nn

from facerevive.restore.network import noise_shapes
from facerevive.weights.export_metadata import NOISE_MODES

NoiseMode = Literal["fixed", "input"]


class RestorationGraph(nn.Module):
    """forward(face[, noise maps]) -> restored face, both (B, 3, S, S) RGB in [-1, 1] float32."""

    def __init__(self, net: nn.Module, noise: NoiseMode, fidelity: float, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if noise not in NOISE_MODES:
            raise ValueError(f"noise={noise!r}: allowed values are {', '.join(NOISE_MODES)}")
        if not 0.0 <= fidelity <= 1.0:
            raise ValueError(f"fidelity={fidelity}: must be within [0, 1]")
        self.net = net.to(dtype).eval()
        self.noise = noise
        self.fidelity = float(fidelity)
        self.dtype = dtype

    def forward(self, face: torch.Tensor, noise: tuple[torch.Tensor, ...] = ()) -> torch.Tensor:
        maps = [n.to(self.dtype) for n in noise] if self.noise == "input" else None
        out = self.net(
            face.to(self.dtype), return_rgb=False, randomize_noise=False, noise=maps, fidelity=self.fidelity
        )[0]
        return cast(torch.Tensor, out).float()

    def example_inputs(self, batch: int) -> tuple[torch.Tensor] | tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Random arguments of the graph for `batch` faces (tracing): (face,) or (face, noise maps)."""
        size = int(cast(Any, self.net).out_size)
        face = torch.rand(batch, 3, size, size) * 2 - 1
        if self.noise == "fixed":
            return (face,)
        return face, tuple(torch.randn(batch, *shape[1:]) for shape in noise_shapes(self.net))
