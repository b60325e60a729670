"""Check the pretrained-file paths of a training config before anything is built.

A configured path that does not exist stops the run at once with one message that lists every missing
file and names `make weights`; a path set to null means random initialisation and is logged as such.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

# Config keys that name pretrained inputs: StyleGAN2 prior, ArcFace, VGG19, component boxes.
PRETRAINED_KEYS = ("decoder_load_path", "identity_load_path", "load_path", "component_path")


class MissingPretrainedError(FileNotFoundError):
    """One or more configured pretrained files are absent."""


def _walk(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{prefix}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{prefix}.{index}")
    else:
        yield prefix, node


def pretrained_entries(cfg: DictConfig, groups: tuple[str, ...] = ("model", "data")) -> list[tuple[str, Any]]:
    """(dotted key, value) of every pretrained-path key under `groups`."""
    entries = []
    for group in groups:
        if cfg.get(group) is None:
            continue
        for key, value in _walk(OmegaConf.to_container(cfg[group], resolve=True), group):
            if key.rsplit(".", 1)[-1] in PRETRAINED_KEYS:
                entries.append((key, value))
    return entries


def check_pretrained_paths(cfg: DictConfig) -> None:
    """Raise MissingPretrainedError naming every configured pretrained file that does not exist."""
    missing = [(key, value) for key, value in pretrained_entries(cfg) if value is not None and not Path(value).exists()]
    if missing:
        lines = "\n".join(f"  {key} = {value}" for key, value in missing)
        raise MissingPretrainedError(
            f"pretrained files not found:\n{lines}\nRun `make weights` to download the official files, or set "
            "the key to null for random initialisation (e.g. model.net_g.decoder_load_path=null)."
        )


def log_random_inits(cfg: DictConfig) -> list[str]:
    """Log (and return) the pretrained keys that are null, i.e. randomly initialised or switched off."""
    null_keys = [key for key, value in pretrained_entries(cfg) if value is None]
    for key in null_keys:
        log.warning("%s is null: random initialisation (or, for component_path, no component boxes)", key)
    return null_keys
