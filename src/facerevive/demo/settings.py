"""The demo's settings: configs/demo.yaml with command-line overrides, over the options of configs/restore.yaml.

Overrides use Hydra's syntax (`server_port=8080`, `restore.weights=random:gfpgan_v1.4`,
`restore.weights_overrides={out_size:64}`); a key or value that cannot work is a SettingsError naming it,
raised before anything is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from facerevive.paths import CONFIG_DIR, set_config_environment
from facerevive.restore.build import restore_config
from facerevive.restore.options import OptionError, checked_config

DEMO_CONFIG = CONFIG_DIR / "demo.yaml"
# Restore options that each run sets itself, so they cannot be changed under `restore:`.
RUN_KEYS = ("input", "output")
# Demo options that are whole numbers, with their smallest allowed value.
MINIMUM_INTEGERS = {
    "server_port": 1,
    "max_photos": 1,
    "preview_max_side": 64,
    "cached_pipelines": 1,
    "keep_runs": 1,
    "max_queue": 1,
    "concurrent_runs": 1,
}
PLACEHOLDER_INPUT = "<uploaded photos>"


class SettingsError(ValueError):
    """A demo setting that cannot work, said in one line naming the key."""


@dataclass(frozen=True)
class DemoSettings:
    """The demo options of configs/demo.yaml; `restore` is configs/restore.yaml (as data) with the demo's changes."""

    server_name: str
    server_port: int
    auth: tuple[str, str] | None
    models: tuple[str, ...]
    models_dir: Path | None
    allow_custom_models: bool
    max_photos: int
    max_upload_mb: float
    max_input_megapixels: float
    max_queue: int
    concurrent_runs: int
    max_upscale: float
    preview_max_side: int
    cached_pipelines: int
    keep_runs: int
    work_dir: Path | None
    pretrained_dir: Path
    restore: DictConfig

    def option(self, key: str) -> Any:
        """A restore option as the demo uses it (the page's default for the options the page sets)."""
        return self.restore[key]


def _composed() -> DictConfig:
    set_config_environment()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("demo")
    GlobalHydra.instance().clear()
    OmegaConf.set_struct(cfg, False)
    return cfg


def _apply(cfg: DictConfig, overrides: list[str], restore_keys: set[str]) -> None:
    parser = OverridesParser.create()
    for text in overrides:
        try:
            (override,) = parser.parse_overrides([text])
        except HydraException as exc:
            raise SettingsError(f"{text}: cannot be parsed ({str(exc).splitlines()[0]})") from None
        key = override.key_or_group
        head, _, rest = key.partition(".")
        if override.is_delete() or override.is_add() or override.is_sweep_override():
            raise SettingsError(f"{override.input_line}: only plain key=value settings are taken")
        if head == "restore":
            if rest in RUN_KEYS:
                raise SettingsError(f"{key}: set by each run of the demo, not a setting")
            if rest.split(".")[0] not in restore_keys:
                raise SettingsError(f"{key}: not an option of configs/restore.yaml ({', '.join(sorted(restore_keys))})")
        elif head == "paths":
            if rest not in cfg.paths:
                raise SettingsError(f"{key}: not a key of configs/paths/default.yaml")
        elif key not in cfg or head == "defaults":
            known = sorted(str(k) for k in cfg if k not in ("paths", "restore"))
            raise SettingsError(f"{key}: not a demo setting ({', '.join(known)}, restore.<option>, paths.<key>)")
        OmegaConf.update(cfg, key, override.value(), merge=False)


def _check_numbers(cfg: DictConfig) -> None:
    for key, minimum in MINIMUM_INTEGERS.items():
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise SettingsError(f"{key}={value!r}: allowed values are integers >= {minimum}")
    if cfg.server_port > 65535:
        raise SettingsError(f"server_port={cfg.server_port}: allowed values are 1 to 65535")
    for key, low in (("max_upload_mb", 0.0), ("max_input_megapixels", 0.0), ("max_upscale", 1.0)):
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= low:
            raise SettingsError(f"{key}={value!r}: allowed values are numbers > {low:g}")
    if not all(isinstance(spec, str) for spec in cfg.models):
        raise SettingsError(f"models={list(cfg.models)!r}: a list of model names or checkpoint paths")
    if not isinstance(cfg.allow_custom_models, bool):
        raise SettingsError(f"allow_custom_models={cfg.allow_custom_models!r}: allowed values are true and false")


def _models_dir(cfg: DictConfig) -> Path | None:
    """`models_dir` as an existing folder; typed model paths need it (they are taken only from inside it)."""
    if cfg.models_dir is None:
        if cfg.allow_custom_models:
            raise SettingsError("allow_custom_models=true: set models_dir= too, the folder typed model paths come from")
        return None
    folder = Path(str(cfg.models_dir)).expanduser()
    if not folder.is_dir():
        raise SettingsError(f"models_dir={cfg.models_dir}: not a folder")
    return folder.resolve()


def _auth(cfg: DictConfig) -> tuple[str, str] | None:
    """The (user, password) of the login, read from the environment variable that `auth_env` names (a password is
    never a setting: settings are files and command lines, which are committed and listed by `ps`)."""
    if cfg.auth_env is None:
        return None
    name = str(cfg.auth_env)
    user, colon, password = os.environ.get(name, "").partition(":")
    if not (user and colon and password):
        raise SettingsError(f"auth_env={name}: the environment variable {name} must hold user:password")
    return user, password


def load_settings(overrides: list[str] | None = None) -> DemoSettings:
    """configs/demo.yaml with `overrides`, checked (SettingsError), and the restore options it changes."""
    cfg = _composed()
    restore = restore_config()
    restore_keys = {str(key) for key in restore if key not in ("pipeline", "runner", "task_name", *RUN_KEYS)}
    _apply(cfg, list(overrides or []), restore_keys)
    _check_numbers(cfg)
    merged = OmegaConf.merge(restore, cfg.restore, {"input": PLACEHOLDER_INPUT})
    assert isinstance(merged, DictConfig)
    try:
        _, merged = checked_config(merged)  # the device resolved here, once for the demo
    except OptionError as exc:
        raise SettingsError(f"restore.{exc}") from None
    work_dir = cfg.work_dir
    return DemoSettings(
        server_name=str(cfg.server_name),
        server_port=int(cfg.server_port),
        auth=_auth(cfg),
        models=tuple(cfg.models),
        models_dir=_models_dir(cfg),
        allow_custom_models=bool(cfg.allow_custom_models),
        max_photos=int(cfg.max_photos),
        max_upload_mb=float(cfg.max_upload_mb),
        max_input_megapixels=float(cfg.max_input_megapixels),
        max_queue=int(cfg.max_queue),
        concurrent_runs=int(cfg.concurrent_runs),
        max_upscale=float(cfg.max_upscale),
        preview_max_side=int(cfg.preview_max_side),
        cached_pipelines=int(cfg.cached_pipelines),
        keep_runs=int(cfg.keep_runs),
        work_dir=None if work_dir is None else Path(work_dir),
        pretrained_dir=Path(cfg.paths.pretrained_dir),
        restore=merged,
    )


def settings_help() -> str:
    """`facerevive-demo --help`: the usage and configs/demo.yaml itself (its comments describe every option)."""
    text = DEMO_CONFIG.read_text(encoding="utf-8").replace("defaults:\n  - _self_\n  - paths: default\n", "")
    return "\n".join(
        [
            "usage: facerevive-demo [key=value ...]   (make demo ARGS='key=value ...')",
            "",
            f"settings ({DEMO_CONFIG.relative_to(CONFIG_DIR.parent)}; restore.<option> takes every option that",
            "facerevive-restore --help lists, e.g. restore.weights=... restore.device=cpu):",
            "",
            text.rstrip(),
        ]
    )
