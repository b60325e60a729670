"""The export options as one typed schema: `ExportOptions` says each option's type, allowed values and meaning;
configs/export.yaml gives the command's defaults and `export_model` the Python API's. `export_options` checks
them once, before any network is built, with an OptionError naming the first key that cannot work."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from facerevive.utils.option_schema import OptionError, checked_values, option

MIN_OPSET = 17


@dataclass(frozen=True)
class ExportOptions:
    """The user options of facerevive-export and `export_model`, checked (`export_options`)."""

    weights: str = option("a release name (files from `make weights`), a checkpoint/export path, or random:<name>")
    weights_overrides: dict[str, Any] | None = option(  # noqa: RUF009 - `option` is dataclasses.field
        "constructor overrides for random:<name>, e.g. {out_size:64,narrow:0.5}"
    )
    out: str = option("the file to write (e.g. gfpgan_v1.4.onnx); written atomically")
    format: Literal["onnx", "torchscript"] = option("onnx | torchscript")
    opset: int = option("ONNX opset", MIN_OPSET)
    dtype: Literal["fp32", "fp16"] = option("fp32 | fp16 (inputs and output stay float32; fp16 is for GPU runtimes)")
    batch: Literal["dynamic"] | int = option("dynamic (needs modconv=activation) | N (a fixed batch size)", 1)
    noise: Literal["input", "fixed"] = option(
        "input: noise maps are graph inputs | fixed: the stored noise maps are baked in"
    )
    fidelity: float = option("baked into the graph: 1 = standard GFPGAN output", 0.0, 1.0)
    modconv: Literal["activation", "grouped"] = option(
        "activation (static weights: TensorRT-friendly, dynamic batch) | grouped (official form)"
    )
    check_faces: int = option("random faces compared with PyTorch after writing (0: no check)", 0)


def export_options(values: Mapping[str, Any]) -> ExportOptions:
    """`values` (a composed export config or the API's arguments) checked against `ExportOptions`; OptionError
    names the first key that cannot work."""
    checked = checked_values(ExportOptions, values)
    if str(checked["weights"]).lower().endswith(".onnx"):
        raise OptionError(
            f"weights={checked['weights']}: already an ONNX export; give the PyTorch weights it came from"
        )
    return ExportOptions(**checked)
