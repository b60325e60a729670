"""Data: the GFPGAN degradation pipeline, datasets, sources, component boxes and the DataModule.

Names are resolved lazily (PEP 562), so that `python -m facerevive.data.component_boxes` (and the other CLIs)
run their module once instead of having the package import it first.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DegradationPipeline": "facerevive.data.pipeline",
    "load_degradation": "facerevive.data.pipeline",
    "degradation_from_options": "facerevive.data.official",
    "FFHQDegradationDataset": "facerevive.data.ffhq_dataset",
    "FaceDataModule": "facerevive.data.datamodule",
    "PairedImageDataset": "facerevive.data.paired_dataset",
    "UnpairedImageDataset": "facerevive.data.paired_dataset",
}
_SUBMODULES = {
    "component_boxes",
    "degradations",
    "transforms",
    "pipeline",
    "official",
    "sources",
    "image_io",
    "make_lmdb",
}

__all__ = sorted([*_EXPORTS, "component_boxes"])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"facerevive.data.{name}")
    raise AttributeError(f"module 'facerevive.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*_EXPORTS, *_SUBMODULES])
