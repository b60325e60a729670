"""Face networks of other projects (CodeFormer, RestoreFormer, RestoreFormer++) from their release files, built by
spandrel's architecture classes.

The file is read by FaceRevive's own safe reader (`read_checkpoint`: `torch.load(weights_only=True)` or
safetensors), never by spandrel's loader (which opens `.pt` files as TorchScript and `.pth` with its own
unpickler); spandrel receives only the state dict, and its architecture detection decides the network from the
tensor names and shapes, so nothing a file names is imported or instantiated. A state dict that spandrel
recognises as anything but a face network is refused.

RestoreFormer++ is one case spandrel 0.4.2 cannot load: its RestoreFormer class fixes the attention at 16 px
and 8 heads, while RestoreFormer++ adds decoder attention at 32 px and uses 4 heads (RestoreFormerPlusPlus:
RestoreFormer/RestoreFormer.py builds `head_size=4, ex_multi_scale_num=1`). FaceRevive builds it from spandrel's
RestoreFormer parts with those two settings (`_restoreformer_plus_plus`), recognised by the decoder's 32 px
attention keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from facerevive.archs.foreign import ForeignGenerator, ForeignKind
from facerevive.weights.build import RANDOM_PREFIX
from facerevive.weights.checkpoint import CheckpointError, read_checkpoint
from facerevive.weights.finite import check_finite_state
from facerevive.weights.registry import WEIGHT_FILES, weight_path

# The keys a release file keeps its weights under: BasicSR's (CodeFormer, GFPGAN's RestoreFormer.pth), or the
# Lightning 1.0 checkpoint of RestoreFormerPlusPlus, whose `state_dict` holds the network under 'vqvae.' next to
# the losses and discriminators of training.
STATE_KEYS = ("params_ema", "params")
LIGHTNING_NETWORK_PREFIX = "vqvae."
# The decoder's attention at 32 px: present in RestoreFormer++ only (`ex_multi_scale_num=1`).
RESTOREFORMER_PP_KEY = "decoder.up.4.attn.0.q.weight"
RESTOREFORMER_PP_HEADS = 4
RESTOREFORMER_PP_ATTENTION = (16, 32)
# spandrel's ids of the face architectures FaceRevive calls (ForeignGenerator knows their conventions).
SPANDREL_KINDS: dict[str, ForeignKind] = {"CodeFormer": "codeformer", "RestoreFormer": "restoreformer"}


class ForeignModelError(CheckpointError):
    """A file that is not a face network FaceRevive can run through spandrel; the message names it and why."""


@dataclass(frozen=True)
class ForeignModel:
    """A release of another project: its weight file (registry.WEIGHT_FILES), the network kind and its name in
    reports and menus."""

    weights: str
    kind: ForeignKind
    label: str


# The fixed list of other projects' releases that `weights=`, `methods=` and the demo take by name.
FOREIGN_MODELS: dict[str, ForeignModel] = {
    "codeformer": ForeignModel("codeformer", "codeformer", "CodeFormer"),
    "restoreformer": ForeignModel("restoreformer", "restoreformer", "RestoreFormer"),
    "restoreformer++": ForeignModel("restoreformer++", "restoreformer", "RestoreFormer++"),
    "restoreformer_gfpgan": ForeignModel("restoreformer_gfpgan", "restoreformer", "RestoreFormer (GFPGAN release)"),
}
# `random:<name>`: the release shape randomly initialised, for tests and use without weights.
RANDOM_FOREIGN = ("codeformer", "restoreformer", "restoreformer++")
_BY_FILENAME = {WEIGHT_FILES[m.weights].filename: name for name, m in FOREIGN_MODELS.items()}


def foreign_name(spec: str) -> str | None:
    """The FOREIGN_MODELS name of `spec` ('codeformer', 'RestoreFormer++', ...), None when it is not one."""
    name = str(spec).strip().lower()
    return name if name in FOREIGN_MODELS else None


def random_foreign_name(spec: str) -> str | None:
    """The release name of 'random:<name>' when it is a foreign architecture, else None."""
    spec = str(spec)
    if not spec.startswith(RANDOM_PREFIX):
        return None
    name = foreign_name(spec[len(RANDOM_PREFIX) :])
    return name if name in RANDOM_FOREIGN else None


def is_foreign_spec(spec: str) -> bool:
    """Whether `spec` names a foreign release, a random foreign network, or a file under a release's name."""
    return foreign_name(spec) is not None or random_foreign_name(spec) is not None or Path(spec).name in _BY_FILENAME


def _registry() -> Any:
    """spandrel's main architectures plus its extras (CodeFormer) when `spandrel-extra-arches` is installed, in
    a registry of our own (spandrel's global one is left as it is)."""
    try:
        from spandrel import MAIN_REGISTRY, ArchRegistry
    except ImportError as exc:
        raise ForeignModelError(
            "CodeFormer and RestoreFormer need spandrel: pip install 'facerevive[foreign]'"
        ) from exc
    registry = ArchRegistry()
    registry.add(*MAIN_REGISTRY)
    try:
        from spandrel_extra_arches import EXTRA_REGISTRY
    except ImportError:
        return registry
    registry.add(*EXTRA_REGISTRY)
    return registry


def _codeformer_class() -> type[nn.Module]:
    try:
        from spandrel_extra_arches.architectures.CodeFormer import CodeFormer
    except ImportError as exc:
        raise ForeignModelError(
            "CodeFormer needs spandrel-extra-arches (CodeFormer's non-commercial S-Lab licence): "
            "pip install 'facerevive[codeformer]'"
        ) from exc
    return cast(type[nn.Module], CodeFormer)


def network_state(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The network's tensors in a release file: under 'params_ema' / 'params', under 'vqvae.' in a Lightning
    `state_dict`, or the file itself when it is a bare state dict."""
    for key in STATE_KEYS:
        if isinstance(checkpoint.get(key), Mapping):
            return dict(checkpoint[key])
    if isinstance(checkpoint.get("state_dict"), Mapping):
        full = checkpoint["state_dict"]
        prefix = LIGHTNING_NETWORK_PREFIX
        return {k[len(prefix) :]: v for k, v in full.items() if k.startswith(prefix)} or dict(full)
    return dict(checkpoint)


def _restoreformer_plus_plus(state: Mapping[str, torch.Tensor] | None = None) -> nn.Module:
    """RestoreFormer++ from spandrel's RestoreFormer parts: 4 heads, decoder attention at 16 and 32 px (the
    release shape; the widths and codebook are read off `state` when given)."""
    try:
        from spandrel.architectures.RestoreFormer import RestoreFormer, RestoreFormerArch
    except ImportError as exc:
        raise ForeignModelError("RestoreFormer++ needs spandrel: pip install 'facerevive[foreign]'") from exc
    if state is not None:
        # spandrel's loader reads every size off the shapes; its network is then rebuilt with RF++'s settings.
        template = RestoreFormerArch().load({k: v for k, v in state.items() if not _is_pp_only(k)}).model
        options = dict(template.hyperparameters)
    else:
        options = dict(RestoreFormer().hyperparameters)
    options["head_size"] = RESTOREFORMER_PP_HEADS
    from facerevive.archs.restoreformer_pp import MultiScaleDecoderTransformer

    net = RestoreFormer(**options)
    net.decoder = MultiScaleDecoderTransformer(
        ch=options["ch"],
        out_ch=options["out_ch"],
        ch_mult=options["ch_mult"],
        num_res_blocks=options["num_res_blocks"],
        attn_resolutions=RESTOREFORMER_PP_ATTENTION,
        dropout=options["dropout"],
        in_channels=options["in_channels"],
        resolution=options["resolution"],
        z_channels=options["z_channels"],
        enable_mid=options["enable_mid"],
        head_size=RESTOREFORMER_PP_HEADS,
    )
    return cast(nn.Module, net)


def _is_pp_only(key: str) -> bool:
    """A key of RestoreFormer++'s 32 px decoder attention (absent from RestoreFormer)."""
    return key.startswith("decoder.up.4.attn.")


def _load_state(net: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ForeignModelError(f"{source}: does not load into RestoreFormer++: {exc}") from exc


def foreign_from_state(state: Mapping[str, torch.Tensor], source: str) -> ForeignGenerator:
    """The face network spandrel recognises in `state`, behind the generator interface (eval mode, CPU)."""
    if RESTOREFORMER_PP_KEY in state:
        net = _restoreformer_plus_plus(state)
        _load_state(net, state, source)
        return ForeignGenerator(net, "restoreformer", "RestoreFormer++").eval()
    from spandrel import UnsupportedModelError

    try:
        descriptor = _registry().load(dict(state))
    except UnsupportedModelError:
        raise ForeignModelError(
            f"{source}: spandrel recognises no architecture in it (nor is it a FaceRevive or GFPGAN file)"
        ) from None
    except (RuntimeError, KeyError, ValueError) as exc:
        raise ForeignModelError(f"{source}: spandrel could not build its network: {exc}") from exc
    arch = descriptor.architecture.id
    if descriptor.purpose != "FaceSR" or arch not in SPANDREL_KINDS:
        raise ForeignModelError(
            f"{source} is a {arch} model ({descriptor.purpose}), not a face restoration network; "
            f"FaceRevive runs {', '.join(SPANDREL_KINDS)} and its own GFPGAN models"
        )
    return ForeignGenerator(descriptor.model, SPANDREL_KINDS[arch], arch).eval()


def load_foreign_file(path: str | Path) -> ForeignGenerator:
    """The face network of a release file, read safely (see the module docstring)."""
    path = Path(path)
    source = str(path)
    state = network_state(read_checkpoint(path))
    if not state or not all(torch.is_tensor(v) for v in state.values()):
        raise ForeignModelError(f"{source}: holds no state dict of tensors")
    check_finite_state(state, source=source)
    return foreign_from_state(state, source)


def random_foreign(name: str) -> ForeignGenerator:
    """The release shape of `name` (RANDOM_FOREIGN) randomly initialised from torch's global generator."""
    model = FOREIGN_MODELS[name]
    net: nn.Module
    if name == "codeformer":
        # The release: 9 transformer layers of 512 features, 8 heads, a 1024-entry codebook over the 16 x 16
        # tokens, fusion at 32-256 px (CodeFormer's inference_codeformer.py).
        net = _codeformer_class()(
            dim_embd=512,
            n_head=8,
            n_layers=9,
            codebook_size=1024,
            latent_size=256,
            connect_list=["32", "64", "128", "256"],
        )
    elif name == "restoreformer++":
        net = _restoreformer_plus_plus()
    else:
        from spandrel.architectures.RestoreFormer import RestoreFormer

        net = RestoreFormer()  # spandrel's defaults are the release's (GFPGAN's RestoreFormer.pth, RF's .ckpt)
    return ForeignGenerator(net, model.kind, model.label).eval()


def build_foreign(spec: str | Path, device: str | torch.device = "cpu") -> ForeignGenerator:
    """A foreign face network in eval mode on `device` from a release name (FOREIGN_MODELS, file from `make
    weights`), 'random:<name>' (RANDOM_FOREIGN) or a release file's path."""
    spec_str = str(spec)
    random_name = random_foreign_name(spec_str)
    if random_name is not None:
        return random_foreign(random_name).to(device)
    if spec_str.startswith(RANDOM_PREFIX):
        raise ValueError(f"unknown architecture in {spec_str!r}; foreign ones: random:<one of {list(RANDOM_FOREIGN)}>")
    name = foreign_name(spec_str)
    if name is not None:
        path = weight_path(FOREIGN_MODELS[name].weights)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing for model {name} (python -m facerevive.weights.download {name})"
            )
    else:
        path = Path(spec_str)
    return load_foreign_file(path).to(device)
