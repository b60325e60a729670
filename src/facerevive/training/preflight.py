"""One pass over a training config that lists every problem of the run at once, before anything is built.

`training_problems(cfg)` checks, in this order: setting ranges (setting_ranges), sizes that must agree, the
batch the discriminator can group, precision and device, the W&B credentials, the resume checkpoint, the
component boxes and the files of the one map `model.init` (paths or names such as `gfpgan_v1.4`), the data and
validation folders, and that the StyleGAN2 prior file fits the generator. Each problem is one line naming the key
and saying what fixes it (the download command, `trainer=cpu`, `logger=wandb_offline`, `data.val=null`, ...);
`preflight` raises one PreflightError holding them all. `facerevive-train` runs it before Hydra creates the run folder
(cli/train_preflight.py), so a run that cannot start leaves nothing behind.

Pretrained files set to null mean random initialisation and are logged in one line (`log_random_inits`). A file
whose network is switched off (ArcFace without the identity loss) is neither checked nor logged.
"""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from facerevive.utils.setting_ranges import ABSENT, range_problems, setting

log = logging.getLogger(__name__)

# The map of the files networks start from (facerevive.models.init_weights.NetworkInit), and the data file of
# component boxes.
INIT_MAP = "model.init"
COMPONENT_KEY = "data.component_path"
# Networks a recipe starts from a pretrained file: null is worth a note (random initialisation). The trained
# networks (net_g, the discriminators) start random unless fine-tuning, so their null is not.
PRETRAINED_NETWORKS = ("decoder", "net_identity", "perceptual")
# Map keys that are unused when any of these keys is null or 0 (the network or its loss is off).
UNUSED_WHEN_OFF = {
    "model.init.net_identity": ("model.net_identity", "model.loss_weights.identity"),
    "model.init.perceptual": ("model.perceptual",),
}
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


def _in_use(cfg: DictConfig, key: str) -> bool:
    """False when the network `key` loads is switched off (UNUSED_WHEN_OFF)."""
    return all(OmegaConf.select(cfg, switch, default=None) not in (None, 0) for switch in UNUSED_WHEN_OFF.get(key, ()))


def init_entries(cfg: DictConfig) -> list[tuple[str, Any]]:
    """(dotted key, value) of every network of the map `model.init` that is in use, in the map's order."""
    init = setting(cfg, INIT_MAP)
    if not isinstance(init, DictConfig):
        return []
    plain = OmegaConf.to_container(init, resolve=True)
    assert isinstance(plain, dict)
    keys = [(f"{INIT_MAP}.{name!s}", value) for name, value in plain.items() if name != "_target_"]
    return [(key, value) for key, value in keys if _in_use(cfg, key)]


def pretrained_entries(cfg: DictConfig) -> list[tuple[str, Any]]:
    """(dotted key, value) of the pretrained inputs in use: the networks of PRETRAINED_NETWORKS in the map (the
    decoder only while no whole net_g file is named) and the component boxes."""
    entries = [(key, value) for key, value in init_entries(cfg) if key.rsplit(".", 1)[-1] in PRETRAINED_NETWORKS]
    if setting(cfg, f"{INIT_MAP}.net_g") not in (None, ABSENT):
        entries = [(key, value) for key, value in entries if key != f"{INIT_MAP}.decoder"]
    if setting(cfg, "data.train") not in (None, ABSENT) and setting(cfg, COMPONENT_KEY) is not ABSENT:
        entries.append((COMPONENT_KEY, setting(cfg, COMPONENT_KEY)))
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


def _missing_file(key: str, value: str, without: str) -> str:
    """The problem line of a configured path that does not exist, with the command that fetches it if any."""
    from facerevive.weights.hint import registry_name

    name = registry_name(value)
    fix = _download_fix([name]) if name else "give the file's path"
    return f"{key}={value}: no such file; {fix}, or {key}=null for {without}"


def pretrained_problems(cfg: DictConfig) -> list[str]:
    """Every configured input file that does not exist, each with the command that fetches it: the component
    boxes and the files of the map `model.init` (a resumed run takes its trained networks from the checkpoint,
    so only the loss networks' files are checked then)."""
    from facerevive.models.init_weights import LOSS_NETWORKS, resolve_spec

    problems = []
    component = setting(cfg, COMPONENT_KEY)
    if setting(cfg, "data.train") not in (None, ABSENT) and isinstance(component, str) and not Path(component).exists():
        problems.append(_missing_file(COMPONENT_KEY, component, "no component boxes"))
    resumed = setting(cfg, "ckpt_path") is not None
    for key, value in init_entries(cfg):
        network = key.rsplit(".", 1)[-1]
        if value is None or (resumed and network not in LOSS_NETWORKS):
            continue
        try:
            resolve_spec(str(value), key)
        except FileNotFoundError as exc:
            if Path(str(value)).name != str(value):  # a path, not a registry name: say what fetches it
                problems.append(_missing_file(key, str(value), "random initialisation"))
                continue
            d_scratch = "model/init=d_scratch for random discriminators"
            instead = f"{key}=null" if network in ("net_g", "decoder", *LOSS_NETWORKS) else d_scratch
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
    key = f"{INIT_MAP}.decoder"
    path = OmegaConf.select(cfg, key, default=None)
    if path is None or not Path(path).is_file():
        return []
    import torch
    from hydra.utils import instantiate

    from facerevive.models.init_weights import read_decoder_state
    from facerevive.weights.checkpoint import check_compatible

    config = OmegaConf.to_container(cfg.model.net_g, resolve=True)
    assert isinstance(config, dict)
    with torch.device("meta"):
        net = instantiate(config, _convert_="all")
    decoder = getattr(net, "stylegan_decoder", None)
    if decoder is None:
        return []
    problems = check_compatible(decoder, read_decoder_state(path), str(path))
    if not problems:
        return []
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return [
        f"{key}={path} does not fit the generator's decoder "
        f"(model.net_g.out_size={config.get('out_size')}): {problems[0]}{more}; or {key}=null"
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
