"""Say which network a state dict belongs to, from its keys and shapes alone.

Used when a strict load fails: the error then names the architecture of the file and the config that builds it
("this is a GFPGANv1Clean channel-multiplier-2 state dict; use model/net_g=gfpgan_clean_c2"). Generator and
discriminator parameters are read off the tensor shapes, and the inferred network is rebuilt on the meta
device and compared key by key, so a description is given only when it is exact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from facerevive.weights.registry import NET_G_CONFIG_DIR, release_config

CLEAN_TARGET = "facerevive.archs.GFPGANv1Clean"
EQUALIZED_TARGET = "facerevive.archs.GFPGANv1"
# The constructor arguments that decide a generator's keys and shapes (the rest, e.g. input_is_latent, do not).
SHAPE_ARGS = (
    "_target_",
    "out_size",
    "num_style_feat",
    "channel_multiplier",
    "narrow",
    "num_mlp",
    "different_w",
    "sft_half",
)
# Widths of StyleGAN2 at 64 px and above, before channel multiplier and narrow (stylegan2_channels).
_SCALED_WIDTHS = {64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}

State = Mapping[str, torch.Tensor]


def _count(state: State, pattern: str) -> int:
    """Number of distinct indices matched by the regex `pattern` (one group) among the keys."""
    regex = re.compile(pattern)
    return len({m.group(1) for key in state if (m := regex.match(key))})


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _same_layout(net: torch.nn.Module, state: State) -> bool:
    expected = net.state_dict()
    return set(expected) == set(state) and all(state[k].shape == v.shape for k, v in expected.items())


def _channel_multiplier(width: int, resolution: int, narrow: float) -> float | int | None:
    """The multiplier that gives `width` channels at `resolution` (None below 64 px, where it changes nothing)."""
    if resolution not in _SCALED_WIDTHS:
        return None
    return _number(width / (_SCALED_WIDTHS[resolution] * narrow))


def generator_config(state: State) -> dict[str, Any] | None:
    """The GFPGAN generator config whose network has exactly these keys and shapes; None if it is not one."""
    if "conv_body_first.weight" in state:
        target = CLEAN_TARGET
    elif "conv_body_first.0.weight" in state:
        target = EQUALIZED_TARGET
    else:
        return None
    try:
        log_size = _count(state, r"conv_body_down\.(\d+)\.") + 2
        narrow = _number(state["stylegan_decoder.constant_input.weight"].shape[1] / 512)
        num_style_feat = int(state["stylegan_decoder.style_conv1.modulated_conv.modulation.weight"].shape[1])
        num_mlp = _count(state, r"stylegan_decoder\.style_mlp\.(\d+)\.weight")
        multiplier = None
        if log_size >= 6:  # style_convs.6 is the first 64 px conv
            width = int(state["stylegan_decoder.style_convs.6.modulated_conv.weight"].shape[1])
            multiplier = _channel_multiplier(width, 64, narrow)
        different_w = int(state["final_linear.weight"].shape[0]) != num_style_feat
        scale_head = [k for k in state if k.startswith("condition_scale.0.") and k.endswith(".weight")]
        sft_half = state[max(scale_head)].shape[0] == state[min(scale_head)].shape[0]
    except (KeyError, ValueError, IndexError):
        return None
    config: dict[str, Any] = {
        "_target_": target,
        "out_size": 2**log_size,
        "num_style_feat": num_style_feat,
        "channel_multiplier": multiplier if multiplier is not None else 1,
        "decoder_load_path": None,
        "num_mlp": num_mlp,
        "input_is_latent": True,
        "different_w": different_w,
        "narrow": narrow,
        "sft_half": sft_half,
    }
    from facerevive.weights.build import generator_from_config

    try:
        with torch.device("meta"):
            net = generator_from_config(config)
    except (ValueError, TypeError, RuntimeError, KeyError):
        return None
    return config if _same_layout(net, state) else None


def discriminator_config(state: State) -> dict[str, Any] | None:
    """The StyleGAN2Discriminator config with exactly these keys and shapes; None if it is not one."""
    if "conv_body.0.0.weight" not in state or "final_linear.1.weight" not in state:
        return None
    from facerevive.archs import StyleGAN2Discriminator

    try:
        out_size = 2 ** (_count(state, r"conv_body\.(\d+)\.") + 1)
        narrow = _number(state["final_conv.0.weight"].shape[0] / 512)
        multiplier = _channel_multiplier(int(state["conv_body.0.0.weight"].shape[0]), out_size, narrow)
        config = {"out_size": out_size, "channel_multiplier": multiplier or 1, "narrow": narrow}
        with torch.device("meta"):
            net = StyleGAN2Discriminator(**config)
    except (KeyError, ValueError, TypeError, RuntimeError):
        return None
    return config if _same_layout(net, state) else None


def _is_component_discriminator(state: State) -> bool:
    from facerevive.archs import FacialComponentDiscriminator

    with torch.device("meta"):
        return _same_layout(FacialComponentDiscriminator(), state)


def named_generator_config(config: Mapping[str, Any]) -> str | None:
    """The configs/model/net_g/<name>.yaml whose generator has the same keys and shapes as `config`."""
    for path in sorted(NET_G_CONFIG_DIR.glob("*.yaml")):
        release = release_config(path.stem)
        if all(release.get(arg) == config.get(arg) for arg in SHAPE_ARGS):
            return path.stem
    return None


def _describe_generator(config: Mapping[str, Any]) -> str:
    cls = config["_target_"].rsplit(".", 1)[-1]
    kind = f"{cls} (equalized layers; GFPGANBilinear has the same keys)" if cls == "GFPGANv1" else cls
    details = ", ".join(f"{arg} {config[arg]}" for arg in SHAPE_ARGS[1:] if arg != "channel_multiplier")
    head = f"this is a {kind} channel-multiplier-{config['channel_multiplier']} state dict ({details})"
    name = named_generator_config(config)
    if name is not None:
        return f"{head}; use model/net_g={name}"
    values = " ".join(f"model.net_g.{arg}={config[arg]}" for arg in SHAPE_ARGS)
    bilinear = " (or _target_=facerevive.archs.GFPGANBilinear for a bilinear file)" if cls == "GFPGANv1" else ""
    return f"{head}; build the generator with {values}{bilinear}"


def _describe_prior(state: State) -> str | None:
    """A bare StyleGAN2 generator (a prior file, BasicSR layout)."""
    if "constant_input.weight" not in state or "style_conv1.modulated_conv.weight" not in state:
        return None
    cls = "StyleGAN2GeneratorClean" if "style_conv1.bias" in state else "StyleGAN2Generator"
    out_size = 2 ** (_count(state, r"to_rgbs\.(\d+)\.") + 2)
    narrow = _number(state["constant_input.weight"].shape[1] / 512)
    multiplier = None
    if "style_convs.6.modulated_conv.weight" in state:
        multiplier = _channel_multiplier(int(state["style_convs.6.modulated_conv.weight"].shape[1]), 64, narrow)
    kind = f"{cls} channel-multiplier-{multiplier}" if multiplier is not None else cls
    return (
        f"this is a {kind} state dict (a {out_size} px StyleGAN2 prior, narrow {narrow}, not a whole GFPGAN "
        "generator); use it as model.init.decoder of a generator with that decoder"
    )


def describe_state_dict(state: State) -> str | None:
    """One sentence naming the network `state` belongs to and how to use it; None when it is not recognised."""
    config = generator_config(state)
    if config is not None:
        return _describe_generator(config)
    prior = _describe_prior(state)
    if prior is not None:
        return prior
    d_config = discriminator_config(state)
    if d_config is not None:
        values = ", ".join(f"{k} {v}" for k, v in d_config.items())
        return f"this is a StyleGAN2Discriminator state dict ({values}); use it as model.init.net_d"
    if _is_component_discriminator(state):
        return (
            "this is a FacialComponentDiscriminator state dict; use it as model.init.net_d_left_eye, "
            "net_d_right_eye or net_d_mouth"
        )
    if "fc5.weight" in state and "bn5.running_mean" in state:
        return "this is a ResNetArcFace state dict (the identity network); use it as model.init.net_identity"
    return None
