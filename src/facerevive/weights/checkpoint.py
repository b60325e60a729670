"""Load network weights from official GFPGAN/BasicSR files, FaceRevive exports and Lightning checkpoints."""

from __future__ import annotations

import collections
import logging
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

log = logging.getLogger(__name__)

# The only non-tensor types a FaceRevive training checkpoint holds besides plain containers (MultiStepLR keeps
# its milestones in a Counter); allowed for `torch.load(..., weights_only=True)`, registered here once.
SAFE_CHECKPOINT_GLOBALS: list[Callable[..., Any] | tuple[Callable[..., Any], str]] = [collections.Counter]
torch.serialization.add_safe_globals(SAFE_CHECKPOINT_GLOBALS)

# Where each official key lives in a FaceRevive Lightning checkpoint's state_dict.
LIGHTNING_PREFIXES = {"params_ema": "net_g_ema.", "params": "net_g."}
_MAX_LISTED_KEYS = 10


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded into the given network as asked."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """torch.load a checkpoint on CPU; plain tensors first, full unpickling only for Lightning files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path} (official files: run `make weights`)")
    try:
        try:
            return cast(dict[str, Any], torch.load(path, map_location="cpu", weights_only=True))
        except pickle.UnpicklingError:
            # Lightning checkpoints carry hyper-parameters (OmegaConf containers, partials).
            return cast(dict[str, Any], torch.load(path, map_location="cpu", weights_only=False))
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint: {exc}") from exc


def _is_state_dict(obj: object) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(torch.is_tensor(v) for v in obj.values())


def extract_state_dict(
    checkpoint: Mapping[str, Any], key: str = "params_ema", source: str = "checkpoint"
) -> dict[str, torch.Tensor]:
    """The state dict stored under `key`.

    - official / export files `{'params': ..., 'params_ema': ...}`: that key, or 'params' when
      'params_ema' is asked for and absent (as the official GFPGANer does);
    - Lightning checkpoints: the `state_dict` entries under the module prefix of `key`
      ('params_ema' -> 'net_g_ema.', 'params' -> 'net_g.'; any other key is used as a prefix itself);
    - a bare state dict: as it is.
    A DistributedDataParallel 'module.' prefix is removed.
    """
    if "state_dict" in checkpoint and "pytorch-lightning_version" in checkpoint:
        prefix = LIGHTNING_PREFIXES.get(key, key if key.endswith(".") else key + ".")
        full = checkpoint["state_dict"]
        state = {k[len(prefix) :]: v for k, v in full.items() if k.startswith(prefix)}
        if not state:
            prefixes = sorted({k.split(".", 1)[0] + "." for k in full})
            raise CheckpointError(
                f"{source}: no weights under '{prefix}' in the Lightning checkpoint; it has {prefixes}"
            )
    elif key in checkpoint and _is_state_dict(checkpoint[key]):
        state = dict(checkpoint[key])
    elif key == "params_ema" and "params" in checkpoint and _is_state_dict(checkpoint["params"]):
        log.info("%s has no 'params_ema'; loading 'params'", source)
        state = dict(checkpoint["params"])
    elif _is_state_dict(checkpoint):
        state = dict(checkpoint)
    else:
        raise CheckpointError(f"{source}: no '{key}' weights; top-level keys are {sorted(checkpoint)[:20]}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED_KEYS])
    more = len(keys) - _MAX_LISTED_KEYS
    return shown + (f", ... ({more} more)" if more > 0 else "")


def check_compatible(net: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> list[str]:
    """Problems (missing, unexpected, wrong-shape keys) between `net` and `state`, as readable lines."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {_listed(unexpected)}")
    if wrong_shape:
        problems.append(f"shape mismatches ({len(wrong_shape)}, file vs network): {_listed(wrong_shape)}")
    return problems


def load_checkpoint(net: nn.Module, path: str | Path, key: str = "params_ema", strict: bool = True) -> nn.Module:
    """Load weights from `path` into `net` and return it.

    With `strict=True` (the default) any missing, unexpected or mis-shaped key raises CheckpointError
    listing them, and `net` is left untouched. With `strict=False` the matching keys load and every
    problem is logged as a warning; shape mismatches always raise.
    """
    source = str(path)
    state = extract_state_dict(read_checkpoint(path), key=key, source=source)
    problems = check_compatible(net, state, source)
    name = type(net).__name__
    if problems and (strict or any(p.startswith("shape") for p in problems)):
        raise CheckpointError(f"cannot load {source} [{key}] into {name}:\n  " + "\n  ".join(problems))
    for problem in problems:
        log.warning("loading %s [%s] into %s: %s", source, key, name, problem)
    net.load_state_dict(state, strict=False)
    return net
