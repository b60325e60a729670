"""From a model spec to an export file: build the network (strict loads), choose the modulated-conv form,
describe it, and write ONNX or TorchScript."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from facerevive.archs.modconv import set_modconv_form
from facerevive.export.graph import RestorationGraph
from facerevive.export.onnx_export import export_onnx, export_torchscript
from facerevive.export.options import ExportOptions, export_options
from facerevive.restore.build import build_network
from facerevive.restore.network import face_size_of, noise_shapes
from facerevive.weights.export_metadata import ExportInfo
from facerevive.weights.provenance import export_metadata, weights_record

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


@dataclass(frozen=True)
class Export:
    """A written export and the PyTorch graph it was traced from (for parity checks)."""

    path: Path
    graph: RestorationGraph
    info: ExportInfo


def describe(net: nn.Module, spec: str, graph: RestorationGraph, modconv: str, dtype: str, batch: str) -> ExportInfo:
    """The metadata of an export of `net` built from `spec` (with the provenance record of its weights)."""
    record = weights_record(spec)
    return ExportInfo(
        architecture=type(net).__name__,
        net_g_config=dict(getattr(net, "config", {})),
        source=spec,
        source_sha256=record.sha256,
        noise=graph.noise,
        noise_shapes=noise_shapes(net) if graph.noise == "input" else [],
        modconv=modconv,
        dtype=dtype,
        batch=batch,
        fidelity=graph.fidelity,
        out_size=face_size_of(net),
        provenance=export_metadata(record, "cpu"),
    )


def export_model(
    model: str,
    out: str | Path,
    format: str = "onnx",
    opset: int = 17,
    dtype: str = "fp32",
    batch: str | int = "dynamic",
    noise: str = "input",
    fidelity: float = 1.0,
    modconv: str = "activation",
    overrides: Mapping[str, Any] | None = None,
) -> Export:
    """Export the restoration network `model` (release name, checkpoint, export or random:<name>) to `out`; the
    options are checked (facerevive.export.options) before anything is built."""
    arguments: dict[str, Any] = {"weights": model, "weights_overrides": dict(overrides) if overrides else None}
    arguments |= {"out": str(out), "format": format, "opset": opset, "dtype": dtype, "batch": batch}
    arguments |= {"noise": noise, "fidelity": fidelity, "modconv": modconv, "check_faces": 0}
    return write_export(export_options(arguments))


def write_export(options: ExportOptions) -> Export:
    """Build the network of checked `options` (strict loads) and write its export."""
    model = options.weights
    size = None if options.batch == "dynamic" else options.batch
    net = build_network(model, device="cpu", overrides=options.weights_overrides)
    set_modconv_form(net, options.modconv)
    # ONNX fp16 is traced in fp32 and converted afterwards (onnx_export.to_float16): torch's CPU fp16 convolution
    # is a slow reference kernel (a 512 v1.4 trace did not finish in 25 minutes here).
    traced_dtype = DTYPES[options.dtype] if options.format == "torchscript" else torch.float32
    graph = RestorationGraph(net, noise=options.noise, fidelity=options.fidelity, dtype=traced_dtype)
    info = describe(net, model, graph, options.modconv, options.dtype, str(options.batch))
    if options.format == "onnx":
        if options.modconv == "grouped" and type(net).__name__ == "GFPGANv1":
            # torch's ONNX exporter loses the grouped kernel's shape in GFPGANv1's FIR-resampled decoder.
            raise ValueError(f"model={model}: GFPGANv1 exports to ONNX with modconv=activation only (the default)")
        info = ExportInfo(**{**info.__dict__, "opset": options.opset})
        return Export(export_onnx(graph, options.out, info, size, options.opset), graph, info)
    return Export(export_torchscript(graph, options.out, info, size), graph, info)
