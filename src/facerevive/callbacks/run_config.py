"""The resolved run config kept in every checkpoint (plain data), and what a resume may change in it.

On resume the stored config is compared with the current one: learning rates, loss weights and total_iter
are applied (learning rates by scaling the restored optimiser and scheduler state, so a decayed schedule stays
decayed); other changes to the model or the data refuse the resume with the list; how the run runs (trainer,
loggers, callbacks, paths, data loading, pretrained files, the model's speed switches) is not training state and
may change freely.
"""

from __future__ import annotations

import logging
import re
from dataclasses import fields
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf

from facerevive.callbacks.checkpoint import iteration_module
from facerevive.models.speed import SpeedSwitches

log = logging.getLogger(__name__)

CHECKPOINT_KEY = "run_config"
APPLIED = re.compile(r"^model\.(optimizer_\w+\.lr|loss_weights\..+|total_iter)$")
STATE_PREFIXES = ("model.", "data.")
# How the iteration runs, not what it trains (facerevive.models.speed), so a resume may change them; the last is
# the switch of older runs (one real-crop pass of the component discriminators, now always on, bit-identical).
SPEED_SWITCHES = (*(field.name for field in fields(SpeedSwitches)), "share_real_component_pass")
FREE = re.compile(
    r"(^data\.val\.|^model\.init\.|\.(num_workers|pin_memory|persistent_workers|prefetch_factor|root|lq_root|gt_root|"
    r"component_path|\w*load_path)$|^model\.({})$)".format("|".join(SPEED_SWITCHES))
)
# Which optimisers (IterationModule.optimizer_names) each optimiser config builds.
OPTIMIZERS = {
    "optimizer_g": ("g",),
    "optimizer_d": ("d",),
    "optimizer_component": ("d_left_eye", "d_right_eye", "d_mouth"),
}


class ResumeConfigError(ValueError):
    """A resume whose config changes the training state in a way that cannot be applied."""


def plain_config(cfg: DictConfig) -> dict[str, Any]:
    """`cfg` resolved to plain data, without the `hydra` node."""
    return {
        str(key): OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        for key, value in cfg.items()
        if key != "hydra"
    }


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys to leaf values (lists are leaves)."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def config_changes(stored: dict[str, Any], current: dict[str, Any]) -> tuple[dict[str, tuple[Any, Any]], list[str]]:
    """(applied changes key -> (stored, current), refused changes as 'key: stored -> current' lines)."""
    old, new = flatten(stored), flatten(current)
    applied: dict[str, tuple[Any, Any]] = {}
    refused = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, "<absent>"), new.get(key, "<absent>")
        if before == after or not key.startswith(STATE_PREFIXES) or FREE.search(key):
            continue
        if APPLIED.match(key) and "<absent>" not in (before, after):
            applied[key] = (before, after)
        else:
            refused.append(f"{key}: {before!r} -> {after!r}")
    return applied, refused


def check_resume_config(stored: dict[str, Any], current: dict[str, Any], ckpt_path: str) -> dict[str, float]:
    """Refuse (ResumeConfigError listing them) or log the applied changes; returns lr ratios per optimiser key."""
    applied, refused = config_changes(stored, current)
    if refused:
        raise ResumeConfigError(
            f"ckpt_path={ckpt_path}: the config changes the training state in ways a resume cannot apply "
            f"(start a new run, or set them back): {'; '.join(refused)}"
        )
    for key, (before, after) in applied.items():
        log.warning("resuming with a changed hyper-parameter (applied): %s %r -> %r", key, before, after)
    return {
        key.split(".")[1]: after / before for key, (before, after) in applied.items() if key.endswith(".lr") and before
    }


class RunConfig(Callback):
    """Stores `config` (plain data) in every checkpoint; at the start of a resumed fit scales the restored
    learning rates of each optimiser config by `lr_ratios` (new lr / stored lr)."""

    def __init__(self, config: dict[str, Any], lr_ratios: dict[str, float] | None = None) -> None:
        super().__init__()
        self.config = config
        self.lr_ratios = lr_ratios or {}

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = self.config

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        names = iteration_module(pl_module).optimizer_names
        for key, ratio in self.lr_ratios.items():
            for name in OPTIMIZERS.get(key, ()):
                if name not in names:
                    continue
                optimizer = trainer.optimizers[names.index(name)]
                for group in optimizer.param_groups:
                    group["lr"] *= ratio
                for config in trainer.lr_scheduler_configs:
                    if config.scheduler.optimizer is optimizer:
                        scheduler: Any = config.scheduler
                        scheduler.base_lrs = [lr * ratio for lr in scheduler.base_lrs]
                        scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
