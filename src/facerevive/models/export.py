"""Generator configs and official-format exports that `facerevive.weights.build_generator` can rebuild."""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch


def generator_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A plain `_target_` + constructor-kwargs dict of the generator, without the prior's load path.

    The decoder weights travel inside the checkpoint, so `decoder_load_path` is set to None: a rebuilt
    network must not need (or silently reload) the pretrained StyleGAN2 file.
    """
    if "_target_" not in config:
        raise ValueError(f"generator config needs a `_target_`; got keys {sorted(config)}")
    plain = copy.deepcopy(dict(config))
    if "decoder_load_path" in plain:
        plain["decoder_load_path"] = None
    return plain


def atomic_save(obj: Any, path: str | Path) -> Path:
    """torch.save to a temporary file in the same folder, then rename: readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
