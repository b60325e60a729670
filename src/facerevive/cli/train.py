"""Train GFPGAN: `facerevive-train` / `python train.py` (the CPU quickstart), `... experiment=gfpgan_v1`, ... .

Hydra composes configs/train.yaml; `run(cfg)` is the testable body. `ckpt_path=last` resumes from the newest
checkpoint of the same task_name. At the end the run's files are listed (checkpoint, export, grids, logs).

The quickstart is the default `experiment` of configs/train.yaml, by Hydra's own default-list rules: `experiment=`
replaces it, a group choice (`model/net_g=...`, `trainer=gpu`) changes that group of the quickstart, and
`~experiment` leaves it out (the base recipe). The command line reaches Hydra as it was typed.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.fabric.utilities.warnings import PossibleUserWarning
from lightning.pytorch.callbacks import ModelSummary, ProgressBar
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from facerevive.callbacks import NonFiniteRollback, RunConfig, StopOnSignal, StorageError
from facerevive.callbacks.run_config import CHECKPOINT_KEY, ResumeConfigError, check_resume_config, plain_config
from facerevive.cli.command_help import CommandHelp, print_help, wants_help
from facerevive.cli.train_preflight import report
from facerevive.data.datamodule import build_datamodule
from facerevive.paths import CONFIG_DIR, set_config_environment
from facerevive.training.preflight import PreflightError, log_random_inits, preflight
from facerevive.training.run_files import CheckpointError, find_last_checkpoint, intact_checkpoint, run_summary
from facerevive.utils.cpu_threads import use_cpu_threads
from facerevive.utils.files import DiskFullError, atomic_write_text
from facerevive.utils.instantiate import instantiate_callbacks, instantiate_loggers
from facerevive.utils.run_lock import RunFolderBusyError, owned_folders
from facerevive.weights import set_pretrained_dir
from facerevive.weights.checkpoint import UnsafeFileError, legacy_checkpoint_globals, safe_load

log = logging.getLogger("facerevive.train")

# The resolved config of a run, written into its run directory (`extras.print_config=true` also prints it).
CONFIG_FILE = "config.yaml"

# Third-party warnings that need no action, matched by message and category: Lightning's own use of a torch
# pytree class torch deprecated; the frozen networks in eval mode (on purpose, see IterationModule.train); an
# epoch shorter than log_every_n_steps (logging counts batches across epochs, so such runs log anyway); and a
# module without validation (the StyleGAN2 prior: its samples and FID callback are its validation) given the
# shared DataModule, whose val_dataloader Lightning then skips, as intended.
HARMLESS_WARNINGS = (
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning),
    (r"Found \d+ module\(s\) in eval mode at the start of training", PossibleUserWarning),
    (r"The number of training batches \(\d+\) is smaller than the logging interval", PossibleUserWarning),
    (r"You passed in a `val_dataloader` but have no `validation_step`", UserWarning),
)
# Start-up notes that need no action, by logger and message start: Lightning's seed (it is in the run config),
# accelerators found (trainer.accelerator chooses; "GPU available but not used" still shows), our own summary
# replacing its default, and an advertisement.
HARMLESS_NOTES = {
    "lightning.fabric.utilities.seed": ("Seed set to",),
    "lightning.pytorch.utilities.rank_zero": (
        "GPU available: ",
        "TPU available: ",
        "HPU available: ",
        "Trainer already configured with model summary callbacks",
        "💡 Tip:",
    ),
}


class NothingTrainedError(RuntimeError):
    """Every iteration of the run was skipped by the NaN/Inf and weight-magnitude guard: nothing was learnt."""


class _DropNotes(logging.Filter):
    """Drops the log records whose message starts with one of `starts`."""

    def __init__(self, starts: tuple[str, ...]) -> None:
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.starts)


def silence_harmless_output() -> None:
    """Filter HARMLESS_WARNINGS and HARMLESS_NOTES (precisely: by message, category or logger), once per process."""
    for message, category in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name, starts in HARMLESS_NOTES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNotes) for f in logger.filters):
            logger.addFilter(_DropNotes(starts))


def trainer_callbacks(cfg: DictConfig) -> list[L.Callback]:
    """The `callbacks` group, less the progress bar and model summary where the trainer switches them off."""
    callbacks = instantiate_callbacks(cfg.get("callbacks"))
    switched_off: list[type[L.Callback]] = []
    if not OmegaConf.select(cfg, "trainer.enable_progress_bar", default=True):
        switched_off.append(ProgressBar)
    if not OmegaConf.select(cfg, "trainer.enable_model_summary", default=True):
        switched_off.append(ModelSummary)
    return [callback for callback in callbacks if not isinstance(callback, tuple(switched_off))]


@rank_zero_only
def save_run_config(config: dict[str, Any], output_dir: str | Path) -> None:
    """The resolved config (plain data) as <run dir>/config.yaml (rank 0 writes it)."""
    atomic_write_text(Path(output_dir) / CONFIG_FILE, OmegaConf.to_yaml(config))


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """None, an existing path, or for `last` the newest last.ckpt of this task's earlier runs.

    A run directory that already holds checkpoints/last.ckpt is a requeued run (SLURM, submitit): it resumes
    from its own checkpoint, whatever `ckpt_path` says."""
    ckpt_path = cfg.get("ckpt_path")
    own = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if own.is_file():
        log.info("this run directory has %s: resuming this run (requeued)", own)
        return str(own)
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        runs = Path(cfg.paths.log_dir) / cfg.task_name / "runs"
        path = find_last_checkpoint(runs, exclude=Path(cfg.paths.output_dir))
        log.info("ckpt_path=last: resuming from %s", path)
        return str(path)
    if not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    return str(ckpt_path)


def read_resume_metadata(path: str) -> tuple[dict[str, Any], bool]:
    """The checkpoint at `path` (memory-mapped) and whether it is in the pre-plain-data (legacy) format."""
    try:
        return safe_load(path, mmap=True), False
    except UnsafeFileError:
        pass
    try:
        checkpoint = safe_load(path, legacy_checkpoint_globals(), mmap=True)
    except UnsafeFileError as exc:
        raise UnsafeFileError(f"ckpt_path={path}: not a FaceRevive training checkpoint: {exc}") from exc
    log.warning("ckpt_path=%s: a checkpoint of the earlier format (OmegaConf hyper-parameters); resuming it", path)
    return checkpoint, True


@contextmanager
def checkpoint_loading(legacy: bool) -> Iterator[None]:
    """Within the block, weights_only loads also accept the legacy types (only when resuming a legacy file)."""
    with torch.serialization.safe_globals(legacy_checkpoint_globals()) if legacy else nullcontext():
        yield


def continue_wandb_run(cfg: DictConfig, checkpoint: dict[str, Any] | None) -> None:
    """On resume, log into the W&B run the checkpoint was written under (unless `logger.wandb.id` is given)."""
    wandb_cfg = (cfg.get("logger") or {}).get("wandb")
    if checkpoint is None or wandb_cfg is None or wandb_cfg.get("id") is not None:
        return
    run_id = checkpoint.get("wandb_run_id")
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
        str(key): OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        for key, value in cfg.items()
        if key != "hydra"
    }
    hparams["model/params/total"] = sum(p.numel() for p in params)
    hparams["model/params/trainable"] = sum(p.numel() for p in params if p.requires_grad)
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)


def run_folders(cfg: DictConfig) -> list[str]:
    """The folders a run writes its own files into: the run directory and the checkpoint folder."""
    folders = [str(cfg.paths.output_dir)]
    checkpoints = OmegaConf.select(cfg, "callbacks.iteration_checkpoint.dirpath", default=None)
    return [*folders, str(checkpoints)] if checkpoints else folders


def run(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Build data, model, callbacks, loggers and trainer from `cfg` and fit; returns (metrics, objects).

    The run owns its run directory and checkpoint folder while it runs (facerevive.utils.run_lock, rank 0): a
    second run given one of them is refused (RunFolderBusyError) before anything is written there."""
    # Lightning reads the global rank from RANK / LOCAL_RANK / SLURM_PROCID; a node launched with NODE_RANK > 0
    # (trainer.num_nodes without SLURM) has local rank 0 there, so its node rank decides too.
    if getattr(rank_zero_only, "rank", 0) != 0 or int(os.environ.get("NODE_RANK") or 0) != 0:
        return _run(cfg)
    with owned_folders(run_folders(cfg)):
        return _run(cfg)


def _run(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    silence_harmless_output()
    set_pretrained_dir(cfg.paths.pretrained_dir)
    preflight(cfg)  # facerevive-train has run it before the run folder existed; the Python path runs it here
    use_cpu_threads(cfg.get("threads"))
    log_random_inits(cfg, logging.getLevelNamesMapping()[random_init_level(cfg)])
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    ckpt_path = resolve_ckpt_path(cfg)
    if ckpt_path:
        ckpt_path, (checkpoint, legacy) = intact_checkpoint(ckpt_path, read_resume_metadata)
    else:
        checkpoint, legacy = None, False
    config = plain_config(cfg)
    save_run_config(config, cfg.paths.output_dir)
    lr_ratios: dict[str, float] = {}
    if checkpoint is not None and ckpt_path is not None:
        iteration = int(checkpoint.get("iteration", 0))
        if iteration >= cfg.model.total_iter:
            print(
                f"FaceRevive {cfg.task_name}: {ckpt_path} is a finished run (iteration {iteration} >= "
                f"model.total_iter={cfg.model.total_iter}); nothing to train (raise model.total_iter to continue)"
            )
            return {}, {"cfg": cfg}
        if CHECKPOINT_KEY in checkpoint:
            lr_ratios = check_resume_config(checkpoint[CHECKPOINT_KEY], config, ckpt_path)
        else:
            log.warning("ckpt_path=%s stores no run config: changed hyper-parameters are not checked", ckpt_path)
    continue_wandb_run(cfg, checkpoint)
    del checkpoint
    datamodule = build_datamodule(cfg.data)
    model = instantiate(cfg.model)
    callbacks = [*trainer_callbacks(cfg), RunConfig(config, lr_ratios), NonFiniteRollback()]
    loggers = instantiate_loggers(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    objects = {"cfg": cfg, "datamodule": datamodule, "model": model, "trainer": trainer}
    try:
        log_hyperparameters(model, trainer, cfg)
        with checkpoint_loading(legacy):
            trainer.fit(model=model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        for callback in callbacks:
            interruption = callback.interruption() if isinstance(callback, StopOnSignal) else None
            if interruption is not None:
                if trainer.is_global_zero:
                    print(
                        f"FaceRevive {cfg.task_name}: stopped by a signal at iteration {interruption.iteration}, "
                        f"saved {interruption.checkpoint}; exit status {interruption.code}; resume with "
                        f"ckpt_path={interruption.checkpoint}"
                    )
                raise interruption
        guard = model.nonfinite
        if guard.skipped and not guard.trained:
            raise NothingTrainedError(
                f"FaceRevive {cfg.task_name}: trained no iteration: all {guard.skipped} iterations run were skipped "
                "(non-finite losses or gradients, or weights above model.nonfinite.max_abs_weight; the warnings "
                "name each) and nothing was saved; lower the learning rates or loss weights"
            )
        if trainer.is_global_zero:
            summary = run_summary(trainer, Path(cfg.paths.output_dir), resumed_from=ckpt_path)
            skipped = f" ({guard.skipped} skipped by model.nonfinite, see the warnings)" if guard.skipped else ""
            finished = f"FaceRevive {cfg.task_name}: finished {model.iteration} iterations{skipped}"
            print("\n".join(["", finished, *summary]))
    finally:
        # Only a run that imported W&B (logger=wandb) can have one open: without it, W&B need not be installed.
        wandb = sys.modules.get("wandb")
        if wandb is not None and wandb.run is not None:
            wandb.finish()
    return metrics, objects


def random_init_level(cfg: DictConfig) -> str:
    """`extras.random_init_log_level` (WARNING unless the recipe starts from scratch on purpose)."""
    return str(OmegaConf.select(cfg, "extras.random_init_log_level", default="WARNING")).upper()


def apply_extras(cfg: DictConfig) -> None:
    """Optional niceties of `cfg.extras`: silence every warning, print the resolved config (which every run
    writes to <run dir>/config.yaml)."""
    extras = cfg.get("extras") or {}
    if extras.get("ignore_warnings"):
        warnings.filterwarnings("ignore")
    if extras.get("print_config"):
        print(OmegaConf.to_yaml(plain_config(cfg)))


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train.yaml")
def _hydra_main(cfg: DictConfig) -> float | None:
    if HydraConfig.get().runtime.choices.get("experiment") is None:
        log.info("no experiment: the base recipe of configs/train.yaml (experiment=quickstart is the CPU quickstart)")
    apply_extras(cfg)
    try:
        metrics, _ = run(cfg)
    except PreflightError as exc:  # sweeps: each job's config is checked in its own run folder
        report(exc)
    except (
        CheckpointError,
        StorageError,
        ResumeConfigError,
        DiskFullError,
        RunFolderBusyError,
        NothingTrainedError,
    ) as exc:
        raise SystemExit(f"error: {exc}") from exc
    metric_name = cfg.get("optimized_metric")
    if metric_name is None:
        return None
    if metric_name not in metrics:
        raise KeyError(f"optimized_metric {metric_name!r} was not logged; logged: {sorted(metrics)}")
    return metrics[metric_name]


TRAIN_HELP = CommandHelp(
    config_name="train.yaml",
    usage=(
        "usage: python train.py [experiment=<recipe>] [group=choice ...] [key=value ...]",
        '       (the same: facerevive-train ..., make train ARGS="...")',
    ),
    intro=(
        "Trains GFPGAN as the composed config says. A bare `python train.py` is the quickstart (a small 64 px model "
        "on data/samples, CPU, a few minutes); experiment=gfpgan_v1 is the paper recipe, "
        "experiment=gfpgan_v1.4_finetune fine-tunes the v1.4 release on data.root (make weights first). Every "
        "problem of a run (files, data, device, W&B key, settings) is listed at once before anything is built."
    ),
    groups=("experiment", "trainer", "logger", "data", "model/net_g", "model/init", "debug", "hparams_search"),
    keys={
        "data.root": "the training faces: a folder of aligned faces, a *.lmdb, a *.zip or a list file",
        "data.val": "the validation set (lq_root, gt_root); null trains without validation",
        "model.total_iter": "iterations to train",
        "data.batch_size": "faces per iteration and device",
        "model.optimizer_g.lr": "generator learning rate (optimizer_d, optimizer_component: the discriminators')",
        "model.init.net_g": "start the generator from a release (gfpgan_v1.4, ...) or a file; null = random",
        "trainer.accelerator": "cpu | gpu | auto (or choose trainer=cpu / trainer=gpu / trainer=ddp)",
        "trainer.devices": "devices per node",
        "data.num_workers": "data-loader processes; null = one per CPU this process may use besides itself",
        "threads": "CPU threads (torch, BLAS); null = the CPUs this process may use (or env FACEREVIVE_THREADS)",
        "seed": "seed of everything (data order, degradations, initialisation)",
        "ckpt_path": "resume: a checkpoint path, or `last` for the newest run of this task",
        "paths.pretrained_dir": "the weights folder (make weights fills it)",
        "paths.log_dir": "where run folders go (<log_dir>/<task_name>/runs/<date>)",
    },
)


def main() -> None:
    """Console entry point: `--help` prints the short help; else Hydra runs on the command line as typed."""
    set_config_environment()
    if wants_help(sys.argv[1:]):
        print_help(TRAIN_HELP, sys.argv[1:])
        raise SystemExit(0)
    _hydra_main()
