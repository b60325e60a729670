"""The real Hydra configs, composed as the entry points compose them (lightning-hydra-template style)."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from facerevive.paths import CONFIG_DIR, set_config_environment

# The one tiny generator of the tests: the quickstart's narrow 64 px clean generator.
TINY_NET_G_FILE = CONFIG_DIR / "model" / "net_g" / "gfpgan_clean_tiny.yaml"


def tiny_net_g_config(**overrides) -> dict:
    """The tiny generator config as a plain dict (with `_target_`), optionally with constructor overrides."""
    config = OmegaConf.to_container(OmegaConf.load(TINY_NET_G_FILE), resolve=True)
    assert isinstance(config, dict)
    return {**config, **overrides}


def compose_config(config_name: str, overrides: list[str], tmp_path: Path, run_dir: Path | None = None) -> DictConfig:
    """`config_name` composed with `overrides`; logs under `tmp_path`, the run directory `run_dir`
    (default tmp_path/run), and HydraConfig set as @hydra.main sets it up."""
    set_config_environment()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    run_dir = run_dir or tmp_path / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    with open_dict(cfg):
        cfg.paths.log_dir = str(tmp_path / "logs")
        cfg.paths.output_dir = str(run_dir)
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.job.num = 0
    HydraConfig().set_config(cfg)
    return cfg
