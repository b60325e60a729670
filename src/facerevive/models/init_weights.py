"""Start the networks of a fresh GFPGAN run from files: `model.init.net_g=gfpgan_v1.4`, `model.init.net_d=...`.

Each network has one key; its value is a name from the weights registry (a release generator such as
`gfpgan_v1.4`, or a discriminator file such as `gfpgan_v1_net_d`) or a path to an official .pth (params_ema /
params / a bare state dict), a FaceRevive export or training checkpoint, or a .safetensors file. Files are read
safely (`read_checkpoint`: never unpickled) and loaded strictly; a mismatch raises one CheckpointError listing
the missing, unexpected and mis-shaped keys and, when the file's keys tell, which network the file holds.
A resumed run loads its own checkpoint instead, so GFPGANModule applies this only at the start of a fresh run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import nn

from facerevive.weights.build import official_name
from facerevive.weights.checkpoint import CheckpointError, check_compatible, extract_state_dict, read_checkpoint
from facerevive.weights.finite import check_finite_state
from facerevive.weights.hint import weights_command
from facerevive.weights.recognise import describe_state_dict
from facerevive.weights.registry import OFFICIAL_MODELS, WEIGHT_FILES, weight_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NetworkInit:
    """Where each network of a fresh run starts: a registry name or a path; None keeps its own initialisation."""

    net_g: str | None = None
    net_d: str | None = None
    net_d_left_eye: str | None = None
    net_d_right_eye: str | None = None
    net_d_mouth: str | None = None

    def specs(self) -> dict[str, str]:
        """The networks that start from a file, by attribute name, with their spec."""
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}


def resolve_spec(spec: str, key: str) -> Path:
    """The file of `spec`: a weights-registry name (or an official model name such as 'v1.4'), else a path."""
    name = spec if spec in WEIGHT_FILES else None
    official = official_name(spec)
    if name is None and official is not None:
        name = OFFICIAL_MODELS[official].weights
    if name is not None:
        path = weight_path(name)
        if path.is_file():
            return path
        entry = WEIGHT_FILES[name]
        if entry.manual:
            where = f"it is published only at {entry.url}: download it by hand into {path.parent}"
        else:
            where = f"run `{weights_command(name)}`"
        raise FileNotFoundError(f"{key}={spec}: {path} is missing; {where}")
    path = Path(spec)
    if not path.is_file():
        known = ", ".join(n for n in WEIGHT_FILES if n.startswith("gfpgan"))
        raise FileNotFoundError(f"{key}={spec}: no such file, and not a weights-registry name ({known})")
    return path


def select_state_dict(checkpoint: Mapping[str, object], network: str, source: str) -> dict[str, torch.Tensor]:
    """The weights of `network` ('net_g', 'net_d', 'net_d_left_eye', ...) in a file read by read_checkpoint.

    A FaceRevive training checkpoint gives the network's own entries (net_g: its EMA copy, the weights the
    run exported); official and export files give `params_ema` (else `params`) for the generator and `params`
    for discriminators (BasicSR's key); any other file must be a bare state dict.
    """
    lightning = "state_dict" in checkpoint and "pytorch-lightning_version" in checkpoint
    if lightning:
        key = "net_g_ema." if network == "net_g" else f"{network}."
    else:
        key = "params_ema" if network == "net_g" else "params"
    return extract_state_dict(checkpoint, key=key, source=source)


def load_network(net: nn.Module, spec: str, key: str, network: str) -> Path:
    """Load `spec` strictly into `net` (the run's `network`); returns the file. Nothing is changed on error."""
    path = resolve_spec(spec, key)
    source = f"{key}={spec} ({path})" if str(path) != spec else f"{key}={spec}"
    state = select_state_dict(read_checkpoint(path), network, source)
    problems = check_compatible(net, state, source)
    if problems:
        recognised = describe_state_dict(state)
        lines = [*problems, recognised or "the file's architecture was not recognised from its keys"]
        raise CheckpointError(f"{source} does not fit {type(net).__name__} ({network}):\n  " + "\n  ".join(lines))
    check_finite_state(state, source=source)
    net.load_state_dict(state, strict=True)
    return path


def initialise_networks(
    networks: Mapping[str, nn.Module | None], init: NetworkInit, prefix: str = "model.init"
) -> None:
    """Load every file `init` names into its network of `networks` (by attribute name); each load is strict.

    A file named for a network the run does not have (e.g. component discriminators in a run without them)
    is an error, so a config never silently drops part of what it asks for.
    """
    for network, spec in init.specs().items():
        net = networks.get(network)
        key = f"{prefix}.{network}"
        if net is None:
            raise ValueError(f"{key}={spec}: this run has no {network} (set {key}=null)")
        path = load_network(net, spec, key, network)
        log.info("%s: started from %s", key, path)
