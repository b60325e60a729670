"""Train GFPGAN: `python train.py` (the CPU quickstart), `python train.py experiment=gfpgan_v1`, ... .

Hydra composes configs/train.yaml; `train(cfg)` is the testable body. `ckpt_path=last` resumes from the newest
checkpoint of the same task_name. At the end the run's files are listed (checkpoint, export, grids, logs).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parent))

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from facerevive.utils.instantiate import instantiate_callbacks, instantiate_loggers
from facerevive.utils.preflight import check_pretrained_paths, log_random_inits
from facerevive.utils.run_files import find_last_checkpoint, run_summary

log = logging.getLogger("train")


def output_dir(cfg: DictConfig) -> Path:
    return Path(cfg.paths.output_dir)


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """None, an existing path, or for `last` the newest last.ckpt of this task's earlier runs."""
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        runs = Path(cfg.paths.log_dir) / cfg.task_name / "runs"
        path = find_last_checkpoint(runs, exclude=output_dir(cfg))
        log.info("ckpt_path=last: resuming from %s", path)
        return str(path)
    if not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    return str(ckpt_path)


def continue_wandb_run(cfg: DictConfig, ckpt_path: str | None) -> None:
    """On resume, log into the W&B run the checkpoint was written under (unless `logger.wandb.id` is given)."""
    wandb_cfg = (cfg.get("logger") or {}).get("wandb")
    if ckpt_path is None or wandb_cfg is None or wandb_cfg.get("id") is not None:
        return
    import torch

    # mmap: only the small metadata is read, not the tensors.
    run_id = torch.load(ckpt_path, map_location="cpu", mmap=True, weights_only=False).get("wandb_run_id")
    if run_id:
        with open_dict(cfg):
            cfg.logger.wandb.id = run_id
            cfg.logger.wandb.resume = "allow"
        log.info("resuming: logging into W&B run %s", run_id)


def log_hyperparameters(model: L.LightningModule, trainer: L.Trainer, cfg: DictConfig) -> None:
    """The resolved config and parameter counts, to every logger."""
    if not trainer.loggers:
        return
    params = list(model.parameters())
    hparams: dict[str, Any] = {
        key: OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]
        for key in cfg
        if key != "hydra"
    }
    hparams["model/params/total"] = sum(p.numel() for p in params)
    hparams["model/params/trainable"] = sum(p.numel() for p in params if p.requires_grad)
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)


def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Build data, model, callbacks, loggers and trainer from `cfg` and fit; returns (metrics, objects)."""
    check_pretrained_paths(cfg)
    log_random_inits(cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    ckpt_path = resolve_ckpt_path(cfg)
    continue_wandb_run(cfg, ckpt_path)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    callbacks = instantiate_callbacks(cfg.get("callbacks"))
    loggers = instantiate_loggers(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    objects = {"cfg": cfg, "datamodule": datamodule, "model": model, "trainer": trainer}
    try:
        log_hyperparameters(model, trainer, cfg)
        # FaceRevive checkpoints hold configs and RNG states besides tensors: full unpickling (own files).
        trainer.fit(model=model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=False)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        if trainer.is_global_zero:
            summary = run_summary(trainer, output_dir(cfg))
            print("\n".join(["", f"FaceRevive {cfg.task_name}: finished {model.iteration} iterations", *summary]))
    finally:
        import wandb

        if wandb.run is not None:
            wandb.finish()
    return metrics, objects


def apply_extras(cfg: DictConfig) -> None:
    extras = cfg.get("extras") or {}
    if extras.get("ignore_warnings"):
        warnings.filterwarnings("ignore")
    if extras.get("print_config"):
        tree = OmegaConf.to_yaml(cfg, resolve=False)
        print(tree)
        if HydraConfig.initialized():
            (output_dir(cfg) / "config_tree.log").write_text(tree)


@hydra.main(version_base="1.3", config_path="configs", config_name="train.yaml")
def main(cfg: DictConfig) -> float | None:
    apply_extras(cfg)
    metrics, _ = train(cfg)
    metric_name = cfg.get("optimized_metric")
    if metric_name is None:
        return None
    if metric_name not in metrics:
        raise KeyError(f"optimized_metric {metric_name!r} was not logged; logged: {sorted(metrics)}")
    return metrics[metric_name]


if __name__ == "__main__":
    main()
