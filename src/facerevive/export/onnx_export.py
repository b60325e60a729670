"""Write a restoration network as ONNX or TorchScript, with its metadata, atomically.

The grouped modulated convolution fixes the batch size in ONNX (Conv's `group` is an attribute, and the
grouped form uses one group per sample), so `batch='dynamic'` needs `modconv='activation'`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from facerevive.export.graph import RestorationGraph
from facerevive.restore.network import noise_shapes
from facerevive.utils.files import atomic_path
from facerevive.weights.export_metadata import ExportInfo

log = logging.getLogger(__name__)

TORCHSCRIPT_METADATA = "facerevive.json"


def input_names(graph: RestorationGraph) -> list[str]:
    """'input', then 'noise0' ... one per decoder layer when the noise is an input."""
    noise_maps = len(noise_shapes(graph.net)) if graph.noise == "input" else 0
    return ["input", *(f"noise{i}" for i in range(noise_maps))]


def export_onnx(graph: RestorationGraph, out: str | Path, info: ExportInfo, batch: int | None, opset: int) -> Path:
    """Trace `graph` to ONNX at `out` (batch None: dynamic) and store `info` in its metadata."""
    import onnx

    if batch is None and info.modconv == "grouped":
        raise ValueError(
            "batch=dynamic needs modconv=activation: ONNX fixes the group count of a convolution, and the grouped "
            "modulated convolution has one group per face (use batch=<N> with modconv=grouped)"
        )
    example = graph.example_inputs(batch or 1)
    names = input_names(graph)
    dynamic = {name: {0: "batch"} for name in [*names, "output"]} if batch is None else None
    out = Path(out)
    with atomic_path(out) as tmp:
        with torch.no_grad():
            torch.onnx.export(
                graph,
                example,
                str(tmp),
                dynamo=False,
                opset_version=opset,
                input_names=names,
                output_names=["output"],
                dynamic_axes=dynamic,
            )
        model = onnx.load(str(tmp))
        if info.dtype == "fp16":
            model = to_float16(model)
        for key, value in info.as_strings().items():
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, str(tmp))
    log.info("wrote %s (%.1f MB)", out, out.stat().st_size / 1e6)
    return out


def to_float16(model: Any) -> Any:
    """`model` (an fp32 ONNX graph) with fp16 weights and arithmetic; its inputs and output stay float32 (a Cast
    at each end). onnxruntime's converter keeps the ops that have no fp16 form (e.g. Resize scales) in fp32."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(model, keep_io_types=True)


def export_torchscript(graph: RestorationGraph, out: str | Path, info: ExportInfo, batch: int | None) -> Path:
    """Trace `graph` to TorchScript at `out`, `info` as the extra file facerevive.json. The grouped form traces
    a fixed batch; the activation form runs any batch."""
    example = graph.example_inputs(batch or 1)
    with torch.no_grad():
        traced = torch.jit.trace(graph, example, check_trace=False)
    out = Path(out)
    with atomic_path(out) as tmp:
        torch.jit.save(traced, str(tmp), _extra_files={TORCHSCRIPT_METADATA: json.dumps(info.as_strings())})
    log.info("wrote %s (%.1f MB)", out, out.stat().st_size / 1e6)
    return out
