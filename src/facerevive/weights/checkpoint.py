"""Load network weights from official GFPGAN/BasicSR files, FaceRevive exports and Lightning checkpoints."""

from __future__ import annotations

import collections
import json
import logging
import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

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
# Exports and releases as .safetensors: the official keys become tensor-name prefixes ('params.', 'params_ema.').
SAFETENSORS_SUFFIX = ".safetensors"
SAFETENSORS_KEYS = ("params", "params_ema")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded into the given network as asked."""


class UnsafeFileError(CheckpointError):
    """A file that holds objects other than tensors and plain data: FaceRevive never unpickles such files."""


def numpy_array_globals() -> list[Any]:
    """The types `torch.save` writes for numpy arrays (BasicSR's FID statistics, old RNG states)."""
    import numpy as np

    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray  # type: ignore[attr-defined]
    return [
        multiarray._reconstruct,
        np.ndarray,
        np.dtype,
        np.dtypes.UInt32DType,
        np.dtypes.Float32DType,
        np.dtypes.Float64DType,
    ]


def legacy_checkpoint_globals() -> list[Any]:
    """The types a FaceRevive training checkpoint written before the plain-data format holds: OmegaConf
    hyper-parameters and a numpy RNG state. Allowed only for such files (`read_checkpoint`, resuming)."""
    import typing

    from omegaconf import base, dictconfig, listconfig, nodes

    return [
        dictconfig.DictConfig,
        listconfig.ListConfig,
        base.ContainerMetadata,
        base.Metadata,
        nodes.AnyNode,
        typing.Any,
        collections.defaultdict,
        dict,
        list,
        int,
        *numpy_array_globals(),
    ]


def safe_load(path: str | Path, allowed: Sequence[Any] = (), mmap: bool = False) -> Any:
    """`torch.load(weights_only=True)` on CPU with the explicit extra types `allowed`; any other object in the
    file raises UnsafeFileError naming the file (nothing in it is executed)."""
    try:
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        # torch's own text first suggests weights_only=False; keep only the line naming the refused object.
        lines = [line for line in str(exc).splitlines() if "GLOBAL" in line or "Unsupported" in line]
        reason = lines[0].strip() if lines else type(exc).__name__
        raise UnsafeFileError(
            f"{path} holds objects other than tensors and plain data, so it is refused (FaceRevive never unpickles "
            f"such files; {reason})"
        ) from exc


def save_export_safetensors(
    export: Mapping[str, Any], path: str | Path, provenance: Mapping[str, str] | None = None
) -> Path:
    """Write an official-layout export ({'params', 'params_ema'[, 'net_g_config']}) as one .safetensors file.

    Layout: each state dict's tensors under the prefixes 'params.' / 'params_ema.'; the generator config
    as JSON in the metadata under 'net_g_config', and the `provenance` strings (source, source_sha256,
    random_weights, iteration, versions: facerevive.weights.provenance) as metadata of their own. Written
    atomically; `read_checkpoint` reads it back.
    """
    from safetensors.torch import save_file

    from facerevive.utils.files import atomic_write

    tensors = {
        f"{key}.{name}": value.detach().cpu().clone().contiguous()  # no shared storage
        for key in SAFETENSORS_KEYS
        if key in export
        for name, value in export[key].items()
    }
    if not tensors:
        raise CheckpointError(f"{path}: an export needs 'params' or 'params_ema' state dicts, got {sorted(export)}")
    metadata = {**(provenance or {}), "format": "facerevive-export"}
    if export.get("net_g_config") is not None:
        metadata["net_g_config"] = json.dumps(export["net_g_config"])
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def read_safetensors(path: Path) -> dict[str, Any]:
    """A .safetensors export as the official dict: tensors regrouped by their 'params.' / 'params_ema.'
    prefix (a file without those prefixes is a bare state dict) plus 'net_g_config' from the metadata."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 (safe_open is not iterable)
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file: {exc}") from exc
    grouped: dict[str, Any] = {}
    for key in SAFETENSORS_KEYS:
        prefix = key + "."
        part = {name[len(prefix) :]: t for name, t in tensors.items() if name.startswith(prefix)}
        if part:
            grouped[key] = part
    if not grouped:
        grouped = dict(tensors)
    if "net_g_config" in metadata:
        try:
            grouped["net_g_config"] = json.loads(metadata["net_g_config"])
        except (json.JSONDecodeError, RecursionError) as exc:
            raise CheckpointError(f"{path}: the 'net_g_config' metadata is not JSON: {exc}") from exc
    return grouped


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A weights file on CPU, loaded safely: official files, exports and checkpoints hold only tensors and plain
    data; a FaceRevive checkpoint of the earlier format is read with the fixed OmegaConf/numpy allowlist
    (`legacy_checkpoint_globals`). Anything else is refused (UnsafeFileError), never unpickled."""
    path = Path(path)
    if not path.is_file():
        from facerevive.weights.hint import weights_command

        raise FileNotFoundError(f"checkpoint not found: {path} (official files: run `{weights_command()}`)")
    if path.suffix == SAFETENSORS_SUFFIX:
        return checked_config(read_safetensors(path), path)
    try:
        try:
            checkpoint = safe_load(path)
        except UnsafeFileError:
            checkpoint = safe_load(path, legacy_checkpoint_globals())
    except UnsafeFileError:
        raise
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint: {exc}") from exc
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"{path} holds a {type(checkpoint).__name__}, not a checkpoint dictionary")
    return checked_config(dict(checkpoint), path)


def checked_config(checkpoint: dict[str, Any], path: Path) -> dict[str, Any]:
    """`checkpoint` once the generator config it carries (if any) fits the fixed list of FaceRevive generators
    and their argument schema (`generator_schema`): every reader of a file gets only checked configs."""
    from facerevive.weights.generator_schema import checked_generator_config

    config = checkpoint.get("net_g_config")
    if config is not None and not (isinstance(config, Mapping) and len(config) == 0):
        checked_generator_config(config, str(path))
    return checkpoint


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
