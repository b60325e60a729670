"""The one path from a generator config to a network: a fixed list of FaceRevive generators, typed arguments.

A checkpoint, export or ONNX file carries its generator's constructor config (`net_g_config`). That config is
data written by whoever made the file, so it never reaches Hydra's `instantiate`, an import or a `getattr`: its
`_target_` must be one of the strings FaceRevive records for its own restoration generators (looked up in a
dict), and every other key must be an argument of that class's constructor whose value has the expected type
and lies in a meaningful range. Hydra's own keys (`_args_`, `_partial_`, ...), nested mappings, lists where a
scalar is expected and unknown keys are refused with one line naming the file and the key.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

from torch import nn

from facerevive.archs import (
    GFPGANBilinear,
    GFPGANv1,
    GFPGANv1Clean,
    StyleGAN2Generator,
    StyleGAN2GeneratorBilinear,
    StyleGAN2GeneratorClean,
)
from facerevive.archs.config import recorded_target
from facerevive.archs.equalized import Resample
from facerevive.archs.stylegan2_arch import INTERPOLATION_MODES
from facerevive.weights.checkpoint import CheckpointError

TARGET_KEY = "_target_"
# Hydra's instantiation keys: a file's config may never steer how (or whether) something is called.
HYDRA_KEYS = ("_args_", "_partial_", "_recursive_", "_convert_")
# The generators a file may name, by the `_target_` they record (archs.config.records_config): the restoration
# generators of exports and checkpoints, and the StyleGAN2 generators of prior-training exports.
RESTORATION_GENERATORS = (GFPGANv1, GFPGANBilinear, GFPGANv1Clean)
PRIOR_GENERATORS = (StyleGAN2Generator, StyleGAN2GeneratorBilinear, StyleGAN2GeneratorClean)
GENERATORS: dict[str, type[nn.Module]] = {
    recorded_target(cls): cls for cls in (*RESTORATION_GENERATORS, *PRIOR_GENERATORS)
}
RESAMPLE_MODES: tuple[str, ...] = get_args(Resample)
# The widest face a generator may restore: StyleGAN2's channel table (archs.stylegan2_channels) ends at 1024.
MIN_OUT_SIZE = 8
MAX_OUT_SIZE = 1024
_SHOWN_CHARS = 40


class GeneratorConfigError(CheckpointError):
    """A generator config that names something other than a FaceRevive generator, or an argument outside its
    schema: refused before anything is built."""


def _number(value: Any) -> bool:
    """An int or float (not a bool), finite."""
    return type(value) in (int, float) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return _number(value) and float(value).is_integer()


def _power_of_two_size(value: Any) -> bool:
    return type(value) is int and MIN_OUT_SIZE <= value <= MAX_OUT_SIZE and value & (value - 1) == 0


def _kernel(value: Any) -> bool:
    return (
        type(value) in (list, tuple)
        and 1 <= len(value) <= 8
        and all(type(tap) is int and 0 <= tap <= 64 for tap in value)
        and any(value)
    )


@dataclass(frozen=True)
class Argument:
    """What one constructor argument accepts: `valid` decides, `rule` says it in words for the refusal."""

    rule: str
    valid: Callable[[Any], bool]


def _between(low: float, high: float, whole: bool = False, low_open: bool = False) -> Argument:
    check = _whole if whole else _number
    bracket = "(" if low_open else "["
    kind = "a whole number" if whole else "a number"
    return Argument(
        f"{kind} in {bracket}{low:g}, {high:g}]",
        lambda v: check(v) and (low < v if low_open else low <= v) and v <= high,
    )


_BOOLEAN = Argument("true or false", lambda v: type(v) is bool)


def _one_of(values: tuple[str, ...]) -> Argument:
    return Argument(f"one of {', '.join(values)}", lambda v: type(v) is str and v in values)


# Every constructor argument of the generators above (a test checks each signature is covered).
ARGUMENTS: dict[str, Argument] = {
    "out_size": Argument(f"a power of two from {MIN_OUT_SIZE} to {MAX_OUT_SIZE}", _power_of_two_size),
    "num_style_feat": _between(1, 1024, whole=True),
    "channel_multiplier": _between(1, 4, whole=True),
    "narrow": _between(1 / 256, 1),
    "num_mlp": _between(1, 16, whole=True),
    "lr_mlp": _between(0, 1, low_open=True),
    "resample_kernel": Argument("a list of 1 to 8 integers in [0, 64], not all zero", _kernel),
    # Never opened: the weights follow in the same file, so the path is dropped (set to None) after the check.
    "decoder_load_path": Argument("a path string or null (it is ignored)", lambda v: v is None or type(v) is str),
    "fix_decoder": _BOOLEAN,
    "input_is_latent": _BOOLEAN,
    "different_w": _BOOLEAN,
    "sft_half": _BOOLEAN,
    "resample": _one_of(RESAMPLE_MODES),
    "interpolation_mode": _one_of(INTERPOLATION_MODES),
}


def _shown(value: Any) -> str:
    """A short, one-line description of a refused value (never its full repr: it may be huge)."""
    if isinstance(value, Mapping):
        return "a nested mapping"
    if type(value) in (list, tuple):
        return f"a list of {len(value)}"
    if type(value) is int and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS]}... ({type(value).__name__})"


def _key(key: Any) -> str:
    """A key as it is named in a refusal: quoted, escaped, one line, short."""
    return _shown(key) if type(key) is str else f"{_shown(key)} ({type(key).__name__} key)"


def plain_mapping(config: Any, source: str) -> dict[Any, Any]:
    """`config` as a dict without resolving anything (an OmegaConf container in an old checkpoint keeps its
    `${...}` strings as they are, so no resolver runs)."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(config, DictConfig):
        config = OmegaConf.to_container(config, resolve=False)
    if not isinstance(config, Mapping):
        raise GeneratorConfigError(f"{source}: net_g_config is {_shown(config)}, not a mapping of arguments")
    return dict(config)


def generator_class(target: Any, source: str) -> type[nn.Module]:
    """The generator class a `_target_` names, from the fixed list; GeneratorConfigError otherwise."""
    cls = GENERATORS.get(target) if type(target) is str else None
    if cls is None:
        raise GeneratorConfigError(
            f"{source}: net_g_config key '{TARGET_KEY}' refused: {_shown(target)} is not a FaceRevive generator "
            f"(allowed: {', '.join(GENERATORS)})"
        )
    return cls


def constructor_arguments(cls: type[nn.Module]) -> dict[str, inspect.Parameter]:
    """The constructor parameters of `cls` by name (without `self`)."""
    parameters = inspect.signature(cls.__init__).parameters
    return {name: p for name, p in parameters.items() if name != "self"}


def checked_generator_config(config: Any, source: str) -> tuple[type[nn.Module], dict[str, Any]]:
    """The class and keyword arguments of a generator config, every key checked against the schema.

    `source` names where the config came from (the file) in the one-line GeneratorConfigError. The returned
    arguments have `decoder_load_path` None: nothing a config names is ever opened.
    """
    values = plain_mapping(config, source)
    if TARGET_KEY not in values:
        raise GeneratorConfigError(
            f"{source}: net_g_config key '{TARGET_KEY}' missing (allowed: {', '.join(GENERATORS)})"
        )
    cls = generator_class(values[TARGET_KEY], source)
    parameters = constructor_arguments(cls)
    name = cls.__name__
    arguments: dict[str, Any] = {}
    for key, value in values.items():
        if key == TARGET_KEY:
            continue
        where = f"{source}: net_g_config key {_key(key)} refused"
        if key in HYDRA_KEYS:
            raise GeneratorConfigError(f"{where}: Hydra instantiation keys are never taken from a file")
        if type(key) is not str or key not in parameters:
            raise GeneratorConfigError(f"{where}: not an argument of {name} (its arguments: {', '.join(parameters)})")
        rule = ARGUMENTS[key]
        if not rule.valid(value):
            raise GeneratorConfigError(f"{where}: {_shown(value)} is not {rule.rule}")
        arguments[key] = list(value) if type(value) is tuple else value
    missing = [key for key, p in parameters.items() if p.default is inspect.Parameter.empty and key not in arguments]
    if missing:
        raise GeneratorConfigError(f"{source}: net_g_config key '{missing[0]}' missing ({name} needs it)")
    if "decoder_load_path" in parameters:
        arguments["decoder_load_path"] = None
    return cls, arguments


def require_restoration_generator(config: Any, source: str) -> None:
    """Refuse a config that is valid but names a StyleGAN2 prior: it does not restore faces."""
    cls, _ = checked_generator_config(config, source)
    if cls not in RESTORATION_GENERATORS:
        raise GeneratorConfigError(
            f"{source}: net_g_config key '{TARGET_KEY}' names {cls.__name__}, a StyleGAN2 prior, not a restoration "
            "generator; use the file as model.init.decoder"
        )


def build_checked_generator(config: Any, source: str) -> nn.Module:
    """The network of a generator config that passes `checked_generator_config`; a constructor that still
    refuses the combination (e.g. too few channels at some resolution) is reported as a GeneratorConfigError."""
    cls, arguments = checked_generator_config(config, source)
    try:
        return cls(**arguments)
    except (ValueError, KeyError, RuntimeError, ZeroDivisionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GeneratorConfigError(f"{source}: net_g_config does not build a {cls.__name__}: {reason}") from exc
