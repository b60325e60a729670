"""The generator config that travels with every checkpoint and export, rebuildable by `build_generator`."""

from __future__ import annotations

import copy
from typing import Any

from torch import nn


def generator_config(net: nn.Module) -> dict[str, Any] | None:
    """The network's own record (`net.config`) with `decoder_load_path` None; None for a network without one.

    The decoder weights travel inside the checkpoint: a rebuilt network must not need (or silently reload) the
    pretrained StyleGAN2 file. Networks from outside FaceRevive (official classes in tests) record nothing.
    """
    config = getattr(net, "config", None)
    if config is None:
        return None
    plain = copy.deepcopy(dict(config))
    if "decoder_load_path" in plain:
        plain["decoder_load_path"] = None
    return plain
