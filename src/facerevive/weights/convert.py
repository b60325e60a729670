"""Convert GFPGAN generators between the Clean layout (v1.2-v1.4 releases) and the equalized bilinear one.

GFPGANv1Clean uses plain layers; GFPGANBilinear (the layout the releases were trained in, per the GFPGAN FAQ)
stores unit-variance weights scaled at run time by 1/sqrt(fan_in) (times lr_mul in the style MLP) and puts a
sqrt(2) gain after each leaky ReLU. Every Clean tensor is one bilinear tensor times a positive constant:

- a layer followed by a gain-corrected leaky ReLU takes the sqrt(2) into its weight and bias
  (leaky(sqrt(2) z) = sqrt(2) leaky(z));
- a residual block's 1/sqrt(2) goes into its second conv (whose sqrt(2) it cancels) and its skip;
- the SFT heads' scaled leaky ReLU goes into the weight of the conv after it;
- the StyleGAN2 convs keep their own sqrt(2) (StyleConvClean applies it) and take it into noise strength and bias.

So `clean_to_bilinear` is exact up to float rounding (tests: the converted network gives the Clean network's
outputs, and converting back gives the Clean weights), which is what fine-tuning a release in the
parameterisation it was trained in needs (GFPGAN#295). `bilinear_to_clean` is the forward direction.

python -m facerevive.weights.convert GFPGANv1.4.pth GFPGANv1.4_bilinear.pth   # Clean -> bilinear
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from facerevive.weights.checkpoint import CheckpointError

SQRT2 = math.sqrt(2)
CLEAN_TARGET = "facerevive.archs.GFPGANv1Clean"
BILINEAR_TARGET = "facerevive.archs.GFPGANBilinear"
# GFPGANBilinear's style-MLP learning-rate multiplier (official default). It cannot be read from a Clean file;
# any value gives the same network, this one gives the parameterisation GFPGAN trains the MLP in.
DEFAULT_LR_MLP = 0.01

# (Clean key pattern, bilinear key template, factor(fan_in, lr_mlp)): clean = bilinear * factor.
Rule = tuple[str, str, Callable[[int, float], float]]


def _eq(fan_in: int) -> float:
    return 1 / math.sqrt(fan_in)


RULES: list[Rule] = [
    # U-Net: ConvLayers with a fused leaky ReLU (sqrt 2 taken in).
    (r"(conv_body_first|final_conv)\.weight", r"\1.0.weight", lambda f, _: SQRT2 * _eq(f)),
    (r"(conv_body_first|final_conv)\.bias", r"\1.1.bias", lambda f, _: SQRT2),
    (r"(conv_body_(?:down|up)\.\d+)\.conv1\.weight", r"\1.conv1.0.weight", lambda f, _: SQRT2 * _eq(f)),
    (r"(conv_body_(?:down|up)\.\d+)\.conv1\.bias", r"\1.conv1.1.bias", lambda f, _: SQRT2),
    # Second conv of a residual block: its sqrt(2) gain and the block's 1/sqrt(2) cancel.
    (r"(conv_body_down\.\d+)\.conv2\.weight", r"\1.conv2.1.weight", lambda f, _: _eq(f)),
    (r"(conv_body_down\.\d+)\.conv2\.bias", r"\1.conv2.2.bias", lambda f, _: 1.0),
    (r"(conv_body_up\.\d+)\.conv2\.weight", r"\1.conv2.weight", lambda f, _: _eq(f)),
    (r"(conv_body_up\.\d+)\.conv2\.bias", r"\1.conv2.activation.bias", lambda f, _: 1.0),
    (r"(conv_body_down\.\d+)\.skip\.weight", r"\1.skip.1.weight", lambda f, _: _eq(f) / SQRT2),
    (r"(conv_body_up\.\d+)\.skip\.weight", r"\1.skip.weight", lambda f, _: _eq(f) / SQRT2),
    (r"(toRGB\.\d+|final_linear)\.weight", r"\1.weight", lambda f, _: _eq(f)),
    (r"(toRGB\.\d+|final_linear)\.bias", r"\1.bias", lambda f, _: 1.0),
    # SFT heads: conv, scaled leaky ReLU (sqrt 2 into the next weight), conv.
    (r"(condition_(?:scale|shift)\.\d+)\.0\.weight", r"\1.0.weight", lambda f, _: _eq(f)),
    (r"(condition_(?:scale|shift)\.\d+)\.2\.weight", r"\1.2.weight", lambda f, _: SQRT2 * _eq(f)),
    (r"(condition_(?:scale|shift)\.\d+)\.([02])\.bias", r"\1.\2.bias", lambda f, _: 1.0),
    # Decoder: style MLP (Clean indices 1, 3, 5, ... are bilinear 1, 2, 3, ...; see _mlp_key).
    (r"stylegan_decoder\.style_mlp\.(\d+)\.weight", "style_mlp.weight", lambda f, lr: SQRT2 * lr * _eq(f)),
    (r"stylegan_decoder\.style_mlp\.(\d+)\.bias", "style_mlp.bias", lambda f, lr: SQRT2 * lr),
    (r"(stylegan_decoder\.\w+(?:\.\d+)?\.modulated_conv)\.weight", r"\1.weight", lambda f, _: _eq(f)),
    (r"(stylegan_decoder\.\w+(?:\.\d+)?\.modulated_conv\.modulation)\.weight", r"\1.weight", lambda f, _: _eq(f)),
    (r"(stylegan_decoder\.\w+(?:\.\d+)?\.modulated_conv\.modulation)\.bias", r"\1.bias", lambda f, _: 1.0),
    (r"(stylegan_decoder\.style_convs?\d*(?:\.\d+)?)\.weight", r"\1.weight", lambda f, _: SQRT2),
    (r"(stylegan_decoder\.style_convs?\d*(?:\.\d+)?)\.bias", r"\1.activate.bias", lambda f, _: SQRT2),
    (r"(stylegan_decoder\.to_rgbs?\d*(?:\.\d+)?)\.bias", r"\1.bias", lambda f, _: 1.0),
    (r"(stylegan_decoder\.(?:constant_input\.weight|noises\.noise\d+))", r"\1", lambda f, _: 1.0),
]
_COMPILED = [(re.compile(pattern), template, factor) for pattern, template, factor in RULES]


def _fan_in(weight_shape: torch.Size) -> int:
    """Inputs per output of a conv (out, in, k, k), modulated conv (1, out, in, k, k) or linear (out, in) weight."""
    dims = tuple(weight_shape)
    if len(dims) == 5:
        dims = dims[1:]
    return math.prod(dims[1:]) if len(dims) > 1 else 1


def _pairs(clean: Mapping[str, torch.Tensor], lr_mlp: float) -> Iterator[tuple[str, str, float]]:
    """(Clean key, bilinear key, factor) for every tensor of a Clean state dict."""
    for key, tensor in clean.items():
        for pattern, template, factor in _COMPILED:
            match = pattern.fullmatch(key)
            if match is None:
                continue
            if template.startswith("style_mlp."):
                index = (int(match.group(1)) + 1) // 2
                bilinear = f"stylegan_decoder.style_mlp.{index}.{template.rsplit('.', 1)[1]}"
            else:
                bilinear = match.expand(template)
            weight_key = key.rsplit(".", 1)[0] + ".weight"
            weight = clean.get(weight_key, tensor)
            yield key, bilinear, factor(_fan_in(weight.shape), lr_mlp)
            break
        else:
            raise CheckpointError(f"{key}: not a GFPGANv1Clean weight; cannot convert it")


def clean_to_bilinear(clean: Mapping[str, torch.Tensor], lr_mlp: float = DEFAULT_LR_MLP) -> dict[str, torch.Tensor]:
    """The GFPGANBilinear state dict (lr_mlp `lr_mlp`) computing what the Clean state dict `clean` computes."""
    converted = {}
    for key, bilinear, factor in _pairs(clean, lr_mlp):
        tensor = clean[key].detach().double() / factor
        converted[bilinear] = (tensor.flatten() if bilinear.endswith("activate.bias") else tensor).to(clean[key].dtype)
    return converted


def bilinear_to_clean(
    bilinear: Mapping[str, torch.Tensor], clean_layout: Mapping[str, torch.Tensor], lr_mlp: float = DEFAULT_LR_MLP
) -> dict[str, torch.Tensor]:
    """The Clean state dict (keys and shapes of `clean_layout`) computing what the bilinear `bilinear` computes."""
    converted = {}
    for key, source, factor in _pairs(clean_layout, lr_mlp):
        tensor = bilinear[source].detach().double() * factor
        converted[key] = tensor.reshape(clean_layout[key].shape).to(bilinear[source].dtype)
    return converted


def bilinear_config(clean_config: Mapping[str, Any], lr_mlp: float = DEFAULT_LR_MLP) -> dict[str, Any]:
    """The GFPGANBilinear constructor config of a GFPGANv1Clean one (same sizes, decoder_load_path None)."""
    if clean_config.get("_target_") != CLEAN_TARGET:
        raise ValueError(f"not a GFPGANv1Clean config: _target_ {clean_config.get('_target_')!r}")
    return {**clean_config, "_target_": BILINEAR_TARGET, "lr_mlp": lr_mlp, "decoder_load_path": None}


def convert_file(source: Path, destination: Path, lr_mlp: float = DEFAULT_LR_MLP) -> Path:
    """Write the bilinear version of a Clean generator file ({'params_ema'}, plus 'params' when present).

    The generator config is the file's `net_g_config` or, for a release file, the release one; the output
    carries the bilinear config, so build_generator and `model.init.net_g` take it.
    """
    from facerevive.utils.files import atomic_torch_save
    from facerevive.weights.checkpoint import read_checkpoint
    from facerevive.weights.registry import release_config

    checkpoint = read_checkpoint(source)
    config = checkpoint.get("net_g_config") or release_config("gfpgan_clean_c2")
    export: dict[str, Any] = {"net_g_config": bilinear_config(config, lr_mlp)}
    for key in ("params", "params_ema"):
        if key in checkpoint:
            export[key] = clean_to_bilinear(checkpoint[key], lr_mlp)
    if "params_ema" not in export and "params" not in export:
        raise CheckpointError(f"{source}: no 'params_ema' or 'params' state dict to convert")
    return atomic_torch_save(export, destination)


def main(argv: list[str] | None = None) -> int:
    """Convert a Clean generator file (a v1.2-v1.4 release or a Clean export) to GFPGANBilinear."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="GFPGANv1Clean file (release or FaceRevive export)")
    parser.add_argument("destination", type=Path, help="GFPGANBilinear file to write")
    parser.add_argument("--lr-mlp", type=float, default=DEFAULT_LR_MLP, help="style-MLP lr multiplier")
    args = parser.parse_args(argv)
    try:
        path = convert_file(args.source, args.destination, args.lr_mlp)
    except (CheckpointError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
