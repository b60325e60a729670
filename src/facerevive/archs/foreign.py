"""A face network of another project (CodeFormer, RestoreFormer, built by spandrel) behind the generator interface
that FaceRestorer and the evaluation call: RGB faces in [-1, 1] in, `(restored in [-1, 1], [])` out.

Each network keeps its own published convention here, not spandrel's wrapper's: spandrel's descriptors take
[0, 1] images, while these networks were trained on [-1, 1] (the (x - 0.5) / 0.5 of their inference scripts), so
the raw module is called (as A1111 and Forge do). CodeFormer's fidelity weight `w` is its forward's `weight`
argument in spandrel's class (the official class names it `w`; spandrel's CodeFormer always runs with
`adain=True`, as the official inference script asks).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

ForeignKind = Literal["codeformer", "restoreformer"]
# CodeFormer's inference_codeformer.py `--fidelity_weight` default (also its demos' slider default).
CODEFORMER_DEFAULT_W = 0.5


class ForeignGenerator(nn.Module):
    """`net` (a spandrel-built CodeFormer or RestoreFormer) called like a GFPGAN generator.

    - `kind` picks the call: CodeFormer `net(x, weight=w)[0]`, RestoreFormer `net(x)[0]`;
    - `face_size` is the side of the aligned faces it restores (512 for every release: CodeFormer's token grid
      is fixed at 16 x 16, RestoreFormer was trained at 512);
    - `fidelity` is CodeFormer's `w` in [0, 1] (1: closest to the input; 0: the codebook prior alone), None
      meaning its published default 0.5; RestoreFormer has no such weight and takes none but 1.
    The StyleGAN2 noise arguments of the GFPGAN interface are accepted and unused: these networks draw no noise.
    """

    def __init__(self, net: nn.Module, kind: ForeignKind, label: str, face_size: int = 512) -> None:
        super().__init__()
        if kind not in ("codeformer", "restoreformer"):
            raise ValueError(f"unknown foreign network kind {kind!r}")
        self.net = net
        self.kind: ForeignKind = kind
        self.label = label
        if face_size < 1 or face_size & (face_size - 1):
            raise ValueError(f"face_size must be a power of two, got {face_size}")
        self.out_size = face_size

    @property
    def default_fidelity(self) -> float:
        """The fidelity the network's own inference script runs with: CodeFormer's default `w`, else 1."""
        return CODEFORMER_DEFAULT_W if self.kind == "codeformer" else 1.0

    def forward(
        self,
        x: torch.Tensor,
        return_rgb: bool = False,
        randomize_noise: bool = False,
        noise: list[torch.Tensor] | None = None,
        fidelity: float | None = None,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(restored faces in [-1, 1], []) for RGB faces `x` (B, 3, S, S) in [-1, 1]."""
        if self.kind == "codeformer":
            w = self.default_fidelity if fidelity is None else float(fidelity)
            out = self.net(x, weight=w)[0]
        else:
            if fidelity is not None and fidelity != 1.0:
                raise ValueError(f"{self.label} has no fidelity weight: restore it with fidelity=1 (got {fidelity:g})")
            out = self.net(x)[0]
        return out, []
