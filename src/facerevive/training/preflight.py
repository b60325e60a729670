"""One pass over a training config that lists every problem of the run at once, before anything is built.

`training_problems(cfg)` checks, in this order: setting ranges (setting_ranges), sizes that must agree, the
batch the discriminator can group, precision and device, the W&B credentials, the resume checkpoint, the
pretrained files (including `model.init` names such as `gfpgan_v1.4`), the data and validation folders, and that a
StyleGAN2 prior file fits the generator. Each problem is one line naming the key and saying what fixes it (the
download command, `trainer=cpu`, `logger=wandb_offline`, `data.val=null`, ...); `preflight` raises one
PreflightError holding them all. `facerevive-train` runs it before Hydra creates the run folder
(cli/train_preflight.py), so a run that cannot start leaves nothing behind.

Pretrained paths set to null mean random initialisation and are logged in one line (`log_random_inits`). A path
whose network is switched off (ArcFace without the identity loss) is neither checked nor logged.
"""

from __future__ import annotations

import logging
import netrc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from facerevive.utils.setting_ranges import ABSENT, range_problems, setting

log = logging.getLogger(__name__)

# Config keys that name pretrained inputs: StyleGAN2 prior, ArcFace, VGG19, component boxes.
PRETRAINED_KEYS = ("decoder_load_path", "identity_load_path", "load_path", "component_path")
# Pretrained keys that are unused when any of these keys is null or 0 (the network or its loss is off).
UNUSED_WHEN_OFF = {"model.identity_load_path": ("model.net_identity", "model.loss_weights.identity")}
# Keys that hold the training image size; the first is the one home, the others must agree with it.
SIZE_KEYS = ("model.net_g.out_size", "data.out_size", "model.net_d.out_size")
# Lightning precision names by what they need: half-precision mixed training needs CUDA; bf16 needs a device
# with bfloat16 support. 32/64-bit precisions run everywhere.
FLOAT16_PRECISIONS = ("16-mixed", "16-true", "16", 16)
BFLOAT16_PRECISIONS = ("bf16-mixed", "bf16-true", "bf16")
# WANDB_MODE values in which W&B never contacts its server (no API key needed).
WANDB_LOCAL_MODES = ("offline", "disabled", "dryrun")
WANDB_HOST = "api.wandb.ai"


class PreflightError(ValueError):
    """The problems that stop a run, one line each (str(): the lines, with a heading when there are several)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            text = self.problems[0]
        else:
            text = f"{len(self.problems)} problems:\n" + "\n".join(f"  - {line}" for line in self.problems)
        super().__init__(text)


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


def log_random_inits(cfg: DictConfig, level: int = logging.WARNING) -> list[str]:
    """Log in one line at `level` (and return) the pretrained keys that are null: randomly initialised networks,
    or for component_path no component boxes. A recipe that starts from scratch on purpose (the quickstart)
    passes logging.INFO."""
    null_keys = [key for key, value in pretrained_entries(cfg) if value is None]
    random = [key for key in null_keys if not key.endswith("component_path")]
    if random:
        log.log(level, "random initialisation (no pretrained file): %s", ", ".join(random))
    for key in null_keys:
        if key.endswith("component_path"):
            log.log(level, "%s is null: no component boxes", key)
    return null_keys


def _download_fix(names: list[str]) -> str:
    from facerevive.weights.hint import weights_command

    return f"run `{weights_command(*names)}`"


def pretrained_problems(cfg: DictConfig) -> list[str]:
    """Every configured pretrained file that does not exist: the `*_load_path` / `component_path` keys and, unless
    the run resumes, the files `model.init` names, each with the command that fetches it."""
    from facerevive.weights.hint import registry_name

    problems, seen = [], set()
    for key, value in pretrained_entries(cfg):
        if value is None or value in seen or Path(value).exists():
            continue
        seen.add(value)  # a dataset's `${..component_path}` names the same file as its group's key
        name = registry_name(value)
        fix = _download_fix([name]) if name else "give the file's path"
        without = "no component boxes" if key.endswith("component_path") else "random initialisation"
        problems.append(f"{key}={value}: no such file; {fix}, or {key}=null for {without}")
    if setting(cfg, "ckpt_path") is None:  # a resumed run takes its networks from the checkpoint, not model.init
        problems += _init_problems(cfg)
    return problems


def _init_problems(cfg: DictConfig) -> list[str]:
    """The `model.init.*` files (registry names or paths) that are missing."""
    from facerevive.models.init_weights import NetworkInit, resolve_spec

    init = setting(cfg, "model.init")
    if not isinstance(init, DictConfig):
        return []
    problems = []
    names = [field for field in NetworkInit.__dataclass_fields__ if init.get(field) is not None]
    for field in names:
        key = f"model.init.{field}"
        try:
            resolve_spec(str(init[field]), key)
        except FileNotFoundError as exc:
            instead = "model/init_d=scratch for random discriminators" if field != "net_g" else f"{key}=null"
            problems.append(f"{exc}; or {instead}")
    return problems


def size_problems(cfg: DictConfig) -> list[str]:
    """data.out_size and model.net_d.out_size must equal model.net_g.out_size (the one home of the image size)."""
    home, *others = SIZE_KEYS
    expected = setting(cfg, home)
    problems = []
    for key in others:
        value = setting(cfg, key)
        if value is not None and value is not ABSENT and value != expected:
            problems.append(f"{key}={value} does not match {home}={expected} (set {home} only)")
    return problems


def batch_problems(cfg: DictConfig) -> list[str]:
    """StyleGAN2Discriminator groups min(batch, stddev_group) samples: a batch below the group works, a larger
    batch must be a multiple of it (the batch's own range is a setting range)."""
    batch = OmegaConf.select(cfg, "data.batch_size", default=None)
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        return []
    group = OmegaConf.select(cfg, "model.net_d.stddev_group", default=4)
    if batch % min(batch, group):
        return [
            f"data.batch_size={batch} with model.net_d.stddev_group={group}: allowed batch sizes are 1..{group} "
            f"or multiples of {group}"
        ]
    return []


def _accelerator(cfg: DictConfig) -> str:
    import torch

    name = str(OmegaConf.select(cfg, "trainer.accelerator", default="auto"))
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if name in ("gpu", "cuda") else name


def device_problems(cfg: DictConfig) -> list[str]:
    """The trainer's accelerator and device count exist here, and its precision runs on it."""
    import torch

    problems = []
    name = OmegaConf.select(cfg, "trainer.accelerator", default="auto")
    device = _accelerator(cfg)
    devices = OmegaConf.select(cfg, "trainer.devices", default=1)
    if device == "cuda" and not torch.cuda.is_available():
        problems.append(f"trainer.accelerator={name}: no CUDA GPU is available here; train on the CPU with trainer=cpu")
    elif device == "mps" and not torch.backends.mps.is_available():
        problems.append(f"trainer.accelerator={name}: Apple's MPS is not available here; use trainer=cpu")
    elif device == "cuda" and isinstance(devices, int) and devices > torch.cuda.device_count():
        count = torch.cuda.device_count()
        problems.append(f"trainer.devices={devices}: only {count} GPU(s) are visible; use trainer.devices={count}")
    precision = OmegaConf.select(cfg, "trainer.precision", default="32-true")
    if device == "cpu" and precision in FLOAT16_PRECISIONS:
        problems.append(
            f"trainer.precision={precision} is not supported on cpu: allowed 32-true, 64-true, bf16-mixed, bf16-true"
        )
    cuda_bf16 = device == "cuda" and precision in BFLOAT16_PRECISIONS and torch.cuda.is_available()
    if cuda_bf16 and not torch.cuda.is_bf16_supported():
        problems.append(f"trainer.precision={precision}: this GPU has no bfloat16 support; allowed 32-true, 16-mixed")
    return problems


def _has_wandb_key() -> bool:
    """An API key in WANDB_API_KEY or in the netrc file `wandb login` writes."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    try:
        return netrc.netrc(path).authenticators(WANDB_HOST) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def logger_problems(cfg: DictConfig) -> list[str]:
    """An online W&B logger needs an API key (WANDB_API_KEY or `wandb login`) unless WANDB_MODE keeps it local."""
    loggers = setting(cfg, "logger")
    if not isinstance(loggers, DictConfig):
        return []
    if os.environ.get("WANDB_MODE", "").lower() in WANDB_LOCAL_MODES or _has_wandb_key():
        return []
    problems = []
    for name, logger in loggers.items():
        target = str(logger.get("_target_", "")) if isinstance(logger, DictConfig) else ""
        if target.endswith("WandbLogger") and not logger.get("offline", False):
            problems.append(
                f"logger.{name!s}: W&B online needs an API key (none in WANDB_API_KEY or ~/.netrc); run `wandb login`, "
                "or log offline with logger=wandb_offline (or WANDB_MODE=offline)"
            )
    return problems


def resume_problems(cfg: DictConfig) -> list[str]:
    """`ckpt_path` is null, `last`, or an existing file."""
    path = setting(cfg, "ckpt_path")
    if path in (None, "last") or not isinstance(path, str) or Path(path).is_file():
        return []
    return [f"ckpt_path={path}: no such checkpoint file; give an existing last.ckpt, or ckpt_path=last"]


def data_problems(cfg: DictConfig) -> list[str]:
    """The training data and the validation folders exist (validation only where it runs)."""
    problems = []
    root = setting(cfg, "data.root")
    train = setting(cfg, "data.train")
    if train is not None and train is not ABSENT and isinstance(root, str) and not Path(root).exists():
        problems.append(
            f"data.root={root}: no such folder or file; give aligned training faces with data.root=<folder> "
            "(a folder, a *.lmdb, a *.zip or a list file; data/README.md says how to make them)"
        )
    validation = setting(cfg, "data.val")
    if isinstance(validation, DictConfig) and setting(cfg, "trainer.limit_val_batches") != 0:
        for key in ("lq_root", "gt_root"):
            folder = validation.get(key)
            if isinstance(folder, str) and not Path(folder).is_dir():
                problems.append(
                    f"data.val.{key}={folder}: no such folder; give the validation set's folders "
                    "(data/README.md, 'Validation folders') or train without validation: data.val=null"
                )
    return problems


def decoder_problems(cfg: DictConfig) -> list[str]:
    """The StyleGAN2 prior file must fit the generator's decoder (shapes checked on a meta-device build)."""
    path = OmegaConf.select(cfg, "model.net_g.decoder_load_path", default=None)
    if path is None or not Path(path).is_file():
        return []
    import torch
    from hydra.utils import instantiate

    from facerevive.archs.gfpgan_arch import decoder_state_dict
    from facerevive.weights.checkpoint import check_compatible

    config = OmegaConf.to_container(cfg.model.net_g, resolve=True)
    assert isinstance(config, dict)
    with torch.device("meta"):
        net = instantiate({**config, "decoder_load_path": None}, _convert_="all")
    decoder = getattr(net, "stylegan_decoder", None)
    if decoder is None:
        return []
    state = decoder_state_dict(path)
    problems = check_compatible(decoder, state, str(path))
    if not problems:
        return []
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return [
        f"model.net_g.decoder_load_path={path} does not fit the generator's decoder "
        f"(model.net_g.out_size={config.get('out_size')}): {problems[0]}{more}"
    ]


def training_problems(cfg: DictConfig) -> list[str]:
    """Every problem of the training config `cfg`, one line each, in the order the module docstring gives."""
    problems = range_problems(cfg)
    problems += size_problems(cfg) + batch_problems(cfg) + device_problems(cfg)
    problems += logger_problems(cfg) + resume_problems(cfg)
    problems += pretrained_problems(cfg) + data_problems(cfg)
    if not problems:  # the prior's shapes are only worth reading when the config itself is sound
        problems += decoder_problems(cfg)
    return problems


def preflight(cfg: DictConfig) -> None:
    """Raise PreflightError listing every problem of `cfg` (nothing is built or written here)."""
    problems = training_problems(cfg)
    if problems:
        raise PreflightError(problems)
