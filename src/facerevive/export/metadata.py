"""What an export says about itself: architecture, constructor config, source and checksum, noise mode,
input convention. Stored as string key/values (ONNX `metadata_props`, a TorchScript extra file)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import facerevive

FORMAT_VERSION = "1"
INPUT_CONVENTION = "RGB, float32 in [-1, 1], NCHW"


@dataclass(frozen=True)
class ExportInfo:
    """The facts an export records (every value is written as a string)."""

    architecture: str
    net_g_config: Mapping[str, Any]
    source: str
    source_sha256: str | None
    noise: str
    noise_shapes: list[tuple[int, ...]]
    modconv: str
    dtype: str
    batch: str
    fidelity: float
    out_size: int
    opset: int | None = None
    # The provenance record (facerevive.utils.provenance.export_metadata: random_weights, iteration, git_commit,
    # torch, cuda, device), so that a restore from the export labels random or quickstart weights as PyTorch does.
    provenance: Mapping[str, str] = field(default_factory=dict)

    def as_strings(self) -> dict[str, str]:
        """`facerevive.*` keys with string values."""
        values: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "version": facerevive.__version__,
            "architecture": self.architecture,
            "net_g_config": json.dumps(dict(self.net_g_config), sort_keys=True),
            "source": self.source,
            "source_sha256": self.source_sha256 or "unknown",
            "noise": self.noise,
            "noise_shapes": json.dumps([list(shape) for shape in self.noise_shapes]),
            "modconv": self.modconv,
            "dtype": self.dtype,
            "batch": self.batch,
            "fidelity": repr(self.fidelity),
            "out_size": str(self.out_size),
            "input": f"{INPUT_CONVENTION}, {self.out_size}x{self.out_size}",
        }
        if self.opset is not None:
            values["opset"] = str(self.opset)
        values = {**self.provenance, **values}
        return {f"facerevive.{key}": str(value) for key, value in values.items()}


def read_info(props: Mapping[str, str], source: str) -> dict[str, Any]:
    """The parsed `facerevive.*` values of an export; ValueError naming `source` when they are not there."""
    prefix = "facerevive."
    values = {key[len(prefix) :]: value for key, value in props.items() if key.startswith(prefix)}
    missing = [key for key in ("format_version", "architecture", "noise", "out_size", "fidelity") if key not in values]
    if missing:
        raise ValueError(
            f"{source}: not a FaceRevive export (metadata {', '.join(missing)} missing); export it with "
            "facerevive-export"
        )
    return {
        **values,
        "out_size": int(values["out_size"]),
        "fidelity": float(values["fidelity"]),
        "noise_shapes": [tuple(shape) for shape in json.loads(values.get("noise_shapes", "[]"))],
    }
