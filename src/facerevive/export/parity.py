"""The numeric parity of an ONNX export with the PyTorch graph it came from, on the same faces and noise."""

from __future__ import annotations

import torch

from facerevive.export.graph import RestorationGraph
from facerevive.restore.onnx_runtime import OnnxGenerator


@torch.no_grad()
def onnx_max_abs_error(onnx_net: OnnxGenerator, graph: RestorationGraph, faces: int, seed: int = 0) -> float:
    """Max |ONNX - PyTorch| on [-1, 1] over `faces` random faces (one batch) with the same noise maps."""
    generator = torch.Generator().manual_seed(seed)
    size = onnx_net.out_size
    x = torch.rand(faces, 3, size, size, generator=generator) * 2 - 1
    noise = [torch.randn(faces, *shape[1:], generator=generator) for shape in onnx_net.noise_map_shapes]
    expected = graph(x, tuple(noise))
    got, _ = onnx_net(x, noise=noise if graph.noise == "input" else None, fidelity=graph.fidelity)
    return float((got - expected).abs().max())
