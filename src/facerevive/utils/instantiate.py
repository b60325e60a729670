"""Build callbacks and loggers from their config groups (dicts of `_target_` configs; others are skipped)."""

from __future__ import annotations

from hydra.utils import instantiate
from lightning import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig


def _entries(group: DictConfig | None, what: str) -> list[DictConfig]:
    if not group:
        return []
    if not isinstance(group, DictConfig):
        raise TypeError(f"{what} config must be a dict of named entries, got {type(group).__name__}")
    return [entry for entry in group.values() if isinstance(entry, DictConfig) and "_target_" in entry]


def instantiate_callbacks(config: DictConfig | None) -> list[Callback]:
    """Every `_target_` entry of the `callbacks` group, in order."""
    return [instantiate(entry) for entry in _entries(config, "callbacks")]


def instantiate_loggers(config: DictConfig | None) -> list[Logger]:
    """Every `_target_` entry of the `logger` group, in order."""
    return [instantiate(entry) for entry in _entries(config, "logger")]
