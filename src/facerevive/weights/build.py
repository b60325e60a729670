"""Build a restoration generator with its weights from an official name, an export or a Lightning checkpoint."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from facerevive.weights.checkpoint import CheckpointError, extract_state_dict, read_checkpoint
from facerevive.weights.finite import check_finite_state
from facerevive.weights.generator_schema import (
    build_checked_generator,
    plain_mapping,
    require_restoration_generator,
)
from facerevive.weights.registry import OFFICIAL_MODELS, WEIGHT_FILES, weight_path

log = logging.getLogger(__name__)

RANDOM_PREFIX = "random:"
# Official file names map to their model, so `model=/path/to/GFPGANv1.4.pth` works without a config.
_OFFICIAL_BY_FILENAME = {WEIGHT_FILES[m.weights].filename: name for name, m in OFFICIAL_MODELS.items()}


def official_name(spec: str) -> str | None:
    """Canonical official model name for 'gfpgan_v1.4', 'v1.4' or '1.4'; None if `spec` is not one."""
    candidates = (spec, f"gfpgan_{spec}", f"gfpgan_v{spec}")
    return next((c for c in candidates if c in OFFICIAL_MODELS), None)


def generator_from_config(
    config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None, source: str = "generator config"
) -> nn.Module:
    """The generator a `_target_` config describes, built through the fixed list of FaceRevive generators and
    their argument schema (`generator_schema`), never by Hydra: the config may come from a file (`source`
    names it in a refusal). `overrides` replaces constructor arguments; `decoder_load_path` is dropped."""
    return build_checked_generator({**plain_mapping(config, source), **(overrides or {})}, source)


def build_generator(
    spec: str | Path,
    device: str | torch.device = "cpu",
    key: str = "params_ema",
    overrides: Mapping[str, Any] | None = None,
) -> nn.Module:
    """A generator in eval mode on `device` from:

    - an official name ('gfpgan_v1', 'gfpgan_v1.2', 'gfpgan_v1.3', 'gfpgan_v1.4'; files from `make weights`);
    - 'random:<official name>': that architecture randomly initialised (for tests and demos without weights);
    - a path to an official-format export or a FaceRevive Lightning checkpoint carrying `net_g_config`,
      or to an official release file under its original name.
    `overrides` replaces constructor arguments (e.g. a small `out_size` for a random network).
    """
    spec_str = str(spec)
    if spec_str.startswith(RANDOM_PREFIX):
        name = official_name(spec_str[len(RANDOM_PREFIX) :])
        if name is None:
            raise ValueError(f"unknown architecture in {spec_str!r}; use random:<one of {sorted(OFFICIAL_MODELS)}>")
        # The commands that build it say so once in their own words (restore.build.model_caveat).
        log.debug("model %s: randomly initialised", spec_str)
        net = generator_from_config(OFFICIAL_MODELS[name].net_g_config, overrides, source=spec_str)
        return net.to(device).eval()

    name = official_name(spec_str)
    if name is not None:
        path = weight_path(OFFICIAL_MODELS[name].weights)
        if not path.is_file():
            from facerevive.weights.hint import weights_command

            raise FileNotFoundError(f"{path} is missing for model {name} (run `{weights_command(name)}`)")
        config = OFFICIAL_MODELS[name].net_g_config
    else:
        path = Path(spec_str)
        config = None
    checkpoint = read_checkpoint(path)
    if config is None:
        config = checkpoint.get("net_g_config")
        by_name = _OFFICIAL_BY_FILENAME.get(path.name)
        if config is None and by_name is not None:
            config = OFFICIAL_MODELS[by_name].net_g_config
        if config is None:
            raise CheckpointError(
                f"{path} carries no 'net_g_config' and is not an official file name; "
                f"use a FaceRevive checkpoint/export or an official name ({', '.join(OFFICIAL_MODELS)})"
            )
    require_restoration_generator(config, str(path))
    net = generator_from_config(config, overrides, source=str(path))
    state = extract_state_dict(checkpoint, key=key, source=str(path))
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path} does not match its generator config: {exc}") from exc
    check_finite_state(state, source=f"{path} [{key}]")
    return net.to(device).eval()
