"""Start networks from files, all through one config map: `model.init.<network>: <file>`.

The map (`NetworkInit`) names, for each network, a weights-registry name (a release generator such as
`gfpgan_v1.4`, a discriminator file such as `gfpgan_v1_net_d`) or a path: an official .pth (params_ema / params /
a bare state dict), a FaceRevive export or training checkpoint, or a .safetensors file. The networks:

- `decoder`: the StyleGAN2 prior that net_g's decoder starts from (a prior file, or any whole GFPGAN generator
  file, whose `stylegan_decoder.*` is taken); `net_g`: the whole generator (loaded after `decoder`);
- `net_d`, `net_d_left_eye`, `net_d_right_eye`, `net_d_mouth`: the discriminators;
- `net_identity` (ArcFace) and `perceptual` (a torchvision VGG state dict): the loss networks.

Files are read safely (`read_checkpoint`: never unpickled) and loaded strictly; a mismatch raises one
CheckpointError listing the missing, unexpected and mis-shaped keys and, when the file's keys tell, which network
the file holds. The loss networks are not checkpointed, so their files load at every start; the trained networks
only at the start of a fresh run (a resumed run loads its checkpoint instead). `training.preflight` checks exactly
this map before anything is built.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import nn

from facerevive.archs.vgg_arch import features_state
from facerevive.weights.build import official_name
from facerevive.weights.checkpoint import CheckpointError, check_compatible, extract_state_dict, read_checkpoint
from facerevive.weights.finite import check_finite_state
from facerevive.weights.hint import weights_command
from facerevive.weights.recognise import describe_state_dict
from facerevive.weights.registry import OFFICIAL_MODELS, WEIGHT_FILES, weight_path

log = logging.getLogger(__name__)


# The networks rebuilt from the config at every start (never checkpointed): their files load at every start, and
# a loss switched off (its network null) leaves its file unused.
LOSS_NETWORKS = ("net_identity", "perceptual")
DECODER_PREFIX = "stylegan_decoder."


@dataclass(frozen=True)
class NetworkInit:
    """Where each network starts: a registry name or a path; None keeps its own (random) initialisation.

    Fields load in this order, so `net_g` (a whole generator) comes after the `decoder` it contains.
    """

    decoder: str | None = None
    net_g: str | None = None
    net_d: str | None = None
    net_d_left_eye: str | None = None
    net_d_right_eye: str | None = None
    net_d_mouth: str | None = None
    net_identity: str | None = None
    perceptual: str | None = None

    def specs(self, networks: tuple[str, ...] | None = None) -> dict[str, str]:
        """The networks (of `networks`, default all) that start from a file, by key, with their spec."""
        names = [f.name for f in fields(self) if networks is None or f.name in networks]
        return {name: value for name in names if (value := getattr(self, name)) is not None}

    def trained_specs(self) -> dict[str, str]:
        """The specs of the trained networks (the ones a checkpoint holds)."""
        return {name: spec for name, spec in self.specs().items() if name not in LOSS_NETWORKS}


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
    """The weights of `network` ('net_g', 'net_d', 'net_d_left_eye', 'net_identity', ...) in a file read by
    read_checkpoint.

    A FaceRevive training checkpoint gives the network's own entries (net_g: its EMA copy, the weights the
    run exported); official and export files give `params_ema` (else `params`) for the generator and `params`
    for the others (BasicSR's key); any other file must be a bare state dict.
    """
    lightning = "state_dict" in checkpoint and "pytorch-lightning_version" in checkpoint
    if lightning:
        key = "net_g_ema." if network == "net_g" else f"{network}."
    else:
        key = "params_ema" if network == "net_g" else "params"
    return extract_state_dict(checkpoint, key=key, source=source)


def decoder_state(checkpoint: Mapping[str, object], source: str) -> dict[str, torch.Tensor]:
    """The StyleGAN2 decoder weights in a file read by read_checkpoint (`params_ema`, else `params`, else bare).

    A StyleGAN2 prior file (BasicSR layout, as the prior trainer exports it) is used as it is; a whole GFPGAN
    generator file (a release such as GFPGANv1.4.pth, a FaceRevive export or training checkpoint) gives its
    `stylegan_decoder.*` weights, so a run can start from a released model's decoder.
    """
    state = extract_state_dict(checkpoint, key="params_ema", source=source)
    if "constant_input.weight" in state:
        return state
    decoder = {k[len(DECODER_PREFIX) :]: v for k, v in state.items() if k.startswith(DECODER_PREFIX)}
    if not decoder:
        shown = ", ".join(sorted({k.split(".", 1)[0] for k in state})[:8])
        raise CheckpointError(
            f"{source}: no StyleGAN2 decoder weights (neither a prior with constant_input.* nor a GFPGAN generator "
            f"with {DECODER_PREFIX}*); its weights are {shown}"
        )
    return decoder


def read_decoder_state(path: str | Path) -> dict[str, torch.Tensor]:
    """`decoder_state` of the file at `path`."""
    return decoder_state(read_checkpoint(path), source=str(path))


def file_state(checkpoint: Mapping[str, object], network: str, source: str, net: nn.Module) -> dict[str, torch.Tensor]:
    """The weights a file gives the map key `network` (loaded into `net`): the decoder's for `decoder`, the layers
    of the VGG `net` (`VGGFeatureExtractor.vgg_net`) out of a torchvision VGG state dict for `perceptual`, else
    `select_state_dict`."""
    if network == "decoder":
        return decoder_state(checkpoint, source)
    if network == "perceptual":
        layers = [name for name, _ in net.named_children()]
        return features_state(extract_state_dict(checkpoint, key="params", source=source), layers)
    return select_state_dict(checkpoint, network, source)


def load_network(net: nn.Module, spec: str, key: str, network: str) -> Path:
    """Load `spec` strictly into `net` (the module that the map key `network` names); returns the file. Nothing
    is changed on error."""
    path = resolve_spec(spec, key)
    source = f"{key}={spec} ({path})" if str(path) != spec else f"{key}={spec}"
    state = file_state(read_checkpoint(path), network, source, net)
    problems = check_compatible(net, state, source)
    if problems:
        recognised = describe_state_dict(state)
        lines = [*problems, recognised or "the file's architecture was not recognised from its keys"]
        raise CheckpointError(f"{source} does not fit {type(net).__name__} ({network}):\n  " + "\n  ".join(lines))
    check_finite_state(state, source=source)
    net.load_state_dict(state, strict=True)
    return path


def initialise_networks(
    networks: Mapping[str, nn.Module | None], specs: Mapping[str, str], prefix: str = "model.init"
) -> None:
    """Load every file of `specs` (a part of `NetworkInit.specs()`) into its module of `networks` (by map key);
    each load is strict.

    A file named for a trained network the run does not have (e.g. component discriminators in a run without
    them) is an error, so a config never silently drops part of what it asks for; a loss network switched off
    leaves its file unused.
    """
    for network, spec in specs.items():
        net = networks.get(network)
        key = f"{prefix}.{network}"
        if net is None and network in LOSS_NETWORKS:
            continue
        if net is None:
            raise ValueError(f"{key}={spec}: this run has no {network} (set {key}=null)")
        path = load_network(net, spec, key, network)
        log.info("%s: started from %s", key, path)
