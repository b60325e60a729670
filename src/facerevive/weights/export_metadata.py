"""What an export says about itself: architecture, constructor config, source and checksum, noise mode,
input convention. Stored as string key/values (ONNX `metadata_props`, a TorchScript extra file).

The export file format, written by facerevive.export and read by restoration's ONNX runtime
(facerevive.restore.onnx_runtime): it sits with the other weight-file formats, below both."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from facerevive.version import __version__

FORMAT_VERSION = "1"
INPUT_CONVENTION = "RGB, float32 in [-1, 1], NCHW"
# How an export treats the decoder noise (facerevive.export.graph): stored maps baked in, or graph inputs.
NOISE_MODES = ("fixed", "input")


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
    # The provenance record (facerevive.weights.provenance.export_metadata: random_weights, iteration, git_commit,
    # torch, cuda, device), so that a restore from the export labels random or quickstart weights as PyTorch does.
    provenance: Mapping[str, str] = field(default_factory=dict)

    def as_strings(self) -> dict[str, str]:
        """`facerevive.*` keys with string values."""
        values: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "version": __version__,
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


class ExportMetadataError(ValueError):
    """An export whose `facerevive.*` metadata is missing or outside what FaceRevive writes."""


# A metadata value longer than this is not one FaceRevive wrote (the longest, net_g_config, is ~300 characters).
MAX_VALUE_CHARS = 4096
_SIZE_DIGITS = re.compile(r"[0-9]{1,5}")


def decoder_noise_shapes(out_size: int) -> list[tuple[int, ...]]:
    """The (1, 1, h, w) noise maps of a StyleGAN2 decoder restoring `out_size` faces, in layer order: one at
    4 px, then two per resolution from 8 px up."""
    sides = [4] + [2**i for i in range(3, out_size.bit_length()) for _ in range(2)]
    return [(1, 1, side, side) for side in sides]


def _parse_out_size(text: str, source: str) -> int:
    from facerevive.weights.generator_schema import ARGUMENTS

    rule = ARGUMENTS["out_size"]
    if not _SIZE_DIGITS.fullmatch(text) or not rule.valid(int(text)):
        raise ExportMetadataError(f"{source}: metadata facerevive.out_size={text[:40]!r} refused: not {rule.rule}")
    return int(text)


def _parse_fidelity(text: str, source: str) -> float:
    try:
        fidelity = float(text)
    except ValueError:
        fidelity = math.nan
    if not 0.0 <= fidelity <= 1.0:
        raise ExportMetadataError(
            f"{source}: metadata facerevive.fidelity={text[:40]!r} refused: not a number in [0, 1]"
        )
    return fidelity


def _parse_noise_shapes(text: str, noise: str, out_size: int, source: str) -> list[tuple[int, ...]]:
    """The noise shapes, which must be exactly the decoder's (noise=input) or none (noise=fixed)."""
    expected = decoder_noise_shapes(out_size) if noise == "input" else []
    try:
        shapes = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        shapes = None
    valid = isinstance(shapes, list) and all(isinstance(shape, list) for shape in shapes)
    if not valid or [tuple(shape) for shape in shapes] != expected:
        raise ExportMetadataError(
            f"{source}: metadata facerevive.noise_shapes={text[:40]!r} refused: noise={noise} at out_size={out_size} "
            f"has {len(expected)} maps {expected[:2]}..."
        )
    return expected


def _parse_net_g_config(text: str, source: str) -> dict[str, Any]:
    """The recorded generator config, checked against the generator schema ({} for a network without one)."""
    from facerevive.weights.generator_schema import checked_generator_config

    try:
        config = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ExportMetadataError(f"{source}: metadata facerevive.net_g_config refused: not JSON ({exc})") from exc
    if config != {}:
        checked_generator_config(config, source)
    return dict(config)


def read_info(props: Mapping[str, str], source: str) -> dict[str, Any]:
    """The parsed `facerevive.*` values of an export, each checked against what FaceRevive writes; an
    ExportMetadataError naming `source` and the key otherwise (nothing is allocated from an unchecked value)."""
    prefix = "facerevive."
    values = {key[len(prefix) :]: value for key, value in props.items() if key.startswith(prefix)}
    missing = [key for key in ("format_version", "architecture", "noise", "out_size", "fidelity") if key not in values]
    if missing:
        raise ExportMetadataError(
            f"{source}: not a FaceRevive export (metadata {', '.join(missing)} missing); export it with "
            "facerevive-export"
        )
    long = next((key for key, value in values.items() if len(value) > MAX_VALUE_CHARS), None)
    if long is not None:
        raise ExportMetadataError(
            f"{source}: metadata facerevive.{long} refused: longer than {MAX_VALUE_CHARS} characters"
        )
    if values["format_version"] != FORMAT_VERSION:
        raise ExportMetadataError(
            f"{source}: metadata facerevive.format_version={values['format_version'][:40]!r} refused: this FaceRevive "
            f"reads format {FORMAT_VERSION}"
        )
    if values["noise"] not in NOISE_MODES:
        raise ExportMetadataError(
            f"{source}: metadata facerevive.noise={values['noise'][:40]!r} refused: not one of {', '.join(NOISE_MODES)}"
        )
    out_size = _parse_out_size(values["out_size"], source)
    return {
        **values,
        "out_size": out_size,
        "fidelity": _parse_fidelity(values["fidelity"], source),
        "noise_shapes": _parse_noise_shapes(values.get("noise_shapes", "[]"), values["noise"], out_size, source),
        "net_g_config": _parse_net_g_config(values.get("net_g_config", "{}"), source),
    }
