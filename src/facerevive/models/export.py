"""The generator config that travels with every checkpoint and export, rebuildable by `build_generator`."""

from __future__ import annotations

import copy
from typing import Any

from torch import nn


def generator_config(net: nn.Module) -> dict[str, Any] | None:
    """A copy of the network's own record (`net.config`); None for a network without one.

    The record names no file (`decoder_load_path` is always None; `model.init` names files): the weights travel
    inside the checkpoint, so a rebuilt network needs nothing else. Networks from outside FaceRevive (official
    classes in tests) record nothing.
    """
    config = getattr(net, "config", None)
    return None if config is None else copy.deepcopy(dict(config))
