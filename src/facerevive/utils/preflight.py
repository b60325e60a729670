"""Check the pretrained-file paths of a training config before anything is built.

A configured path that does not exist stops the run at once with one message that lists every missing
file and names `make weights`; paths set to null mean random initialisation and are logged in one line. A path
whose network is switched off (ArcFace without the identity loss) is neither checked nor logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

# Config keys that name pretrained inputs: StyleGAN2 prior, ArcFace, VGG19, component boxes.
PRETRAINED_KEYS = ("decoder_load_path", "identity_load_path", "load_path", "component_path")
# Pretrained keys that are unused when any of these keys is null or 0 (the network or its loss is off).
UNUSED_WHEN_OFF = {"model.identity_load_path": ("model.net_identity", "model.loss_weights.identity")}


class MissingPretrainedError(FileNotFoundError):
    """One or more configured pretrained files are absent."""


def _walk(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{prefix}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{prefix}.{index}")
    else:
        yield prefix, node


def _in_use(cfg: DictConfig, key: str) -> bool:
    """False when the network `key` loads is switched off (UNUSED_WHEN_OFF)."""
    return all(OmegaConf.select(cfg, switch, default=None) not in (None, 0) for switch in UNUSED_WHEN_OFF.get(key, ()))


def pretrained_entries(cfg: DictConfig, groups: tuple[str, ...] = ("model", "data")) -> list[tuple[str, Any]]:
    """(dotted key, value) of every pretrained-path key under `groups` whose network is in use."""
    entries = []
    for group in groups:
        if cfg.get(group) is None:
            continue
        for key, value in _walk(OmegaConf.to_container(cfg[group], resolve=True), group):
            if key.rsplit(".", 1)[-1] in PRETRAINED_KEYS and _in_use(cfg, key):
                entries.append((key, value))
    return entries


def check_pretrained_paths(cfg: DictConfig) -> None:
    """Raise MissingPretrainedError naming every configured pretrained file that does not exist."""
    missing = [(key, value) for key, value in pretrained_entries(cfg) if value is not None and not Path(value).exists()]
    if missing:
        lines = "\n".join(f"  {key} = {value}" for key, value in missing)
        raise MissingPretrainedError(
            f"pretrained files not found:\n{lines}\nRun `make weights` to download the official files, or set "
            "the key to null for random initialisation (e.g. model.net_g.decoder_load_path=null)."
        )


def log_random_inits(cfg: DictConfig) -> list[str]:
    """Log in one line (and return) the pretrained keys that are null: randomly initialised networks, or for
    component_path no component boxes."""
    null_keys = [key for key, value in pretrained_entries(cfg) if value is None]
    random = [key for key in null_keys if not key.endswith("component_path")]
    if random:
        log.warning("random initialisation (no pretrained file): %s", ", ".join(random))
    for key in null_keys:
        if key.endswith("component_path"):
            log.warning("%s is null: no component boxes", key)
    return null_keys


class ConfigValueError(ValueError):
    """A training config value that cannot work; the message names the key and the allowed values."""


# Lightning precision names by what they need: half-precision mixed training needs CUDA; bf16 needs a device
# with bfloat16 support. 32/64-bit precisions run everywhere.
FLOAT16_PRECISIONS = ("16-mixed", "16-true", "16", 16)
BFLOAT16_PRECISIONS = ("bf16-mixed", "bf16-true", "bf16")


def _check_out_size(cfg: DictConfig) -> None:
    from facerevive.archs.stylegan2_arch import log2_size

    value = OmegaConf.select(cfg, "model.net_g.out_size")
    try:
        log2_size(int(value))
    except (TypeError, ValueError):
        raise ConfigValueError(f"model.net_g.out_size={value}: allowed values are powers of two >= 8") from None


def _check_batch(cfg: DictConfig) -> None:
    batch = OmegaConf.select(cfg, "data.batch_size", default=None)
    if batch is None:
        return
    if not isinstance(batch, int) or batch < 1:
        raise ConfigValueError(f"data.batch_size={batch}: allowed values are integers >= 1")
    group = OmegaConf.select(cfg, "model.net_d.stddev_group", default=4)
    # StyleGAN2Discriminator groups min(batch, stddev_group) samples: a batch below the group works, a larger
    # batch must be a multiple of it.
    if batch % min(batch, group):
        raise ConfigValueError(
            f"data.batch_size={batch} with model.net_d.stddev_group={group}: allowed batch sizes are 1..{group} "
            f"or multiples of {group}"
        )


def _accelerator(cfg: DictConfig) -> str:
    import torch

    name = str(OmegaConf.select(cfg, "trainer.accelerator", default="auto"))
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if name in ("gpu", "cuda") else name


def _check_precision(cfg: DictConfig) -> None:
    import torch

    precision = OmegaConf.select(cfg, "trainer.precision", default="32-true")
    device = _accelerator(cfg)
    if device == "cpu" and precision in FLOAT16_PRECISIONS:
        raise ConfigValueError(
            f"trainer.precision={precision} is not supported on cpu: allowed 32-true, 64-true, bf16-mixed, bf16-true"
        )
    cuda_bf16 = device == "cuda" and precision in BFLOAT16_PRECISIONS and torch.cuda.is_available()
    if cuda_bf16 and not torch.cuda.is_bf16_supported():
        raise ConfigValueError(
            f"trainer.precision={precision}: this GPU has no bfloat16 support; allowed 32-true, 16-mixed"
        )


def _check_decoder(cfg: DictConfig) -> None:
    """The StyleGAN2 prior file must fit the generator's decoder (shapes checked on a meta-device build)."""
    path = OmegaConf.select(cfg, "model.net_g.decoder_load_path", default=None)
    if path is None or not Path(path).is_file():
        return
    import torch
    from hydra.utils import instantiate

    from facerevive.archs.gfpgan_arch import decoder_state_dict
    from facerevive.weights.checkpoint import CheckpointError, check_compatible

    config = OmegaConf.to_container(cfg.model.net_g, resolve=True)
    assert isinstance(config, dict)
    with torch.device("meta"):
        net = instantiate({**config, "decoder_load_path": None}, _convert_="all")
    decoder = getattr(net, "stylegan_decoder", None)
    if decoder is None:
        return
    state = decoder_state_dict(path)
    problems = check_compatible(decoder, state, str(path))
    if problems:
        raise CheckpointError(
            f"model.net_g.decoder_load_path={path} does not fit the generator's decoder "
            f"(model.net_g.out_size={config.get('out_size')}): {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )


def validate_training_config(cfg: DictConfig) -> None:
    """Refuse, before anything heavy is built, values that would fail later with a deep traceback."""
    _check_out_size(cfg)
    _check_batch(cfg)
    _check_precision(cfg)
    _check_decoder(cfg)
