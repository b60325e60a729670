"""Where a run's files are: the newest `last.ckpt` to resume from, and the end-of-run summary."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger

from facerevive.callbacks import ImageGridCallback, IterationCheckpoint


def find_last_checkpoint(runs_dir: str | Path, exclude: str | Path | None = None) -> Path:
    """The most recently written `*/checkpoints/last.ckpt` under `runs_dir` (a task's `runs` folder)."""
    runs_dir = Path(runs_dir)
    excluded = Path(exclude).resolve() if exclude else None
    candidates = [
        path
        for path in runs_dir.glob("*/checkpoints/last.ckpt")
        if excluded is None or excluded not in path.resolve().parents
    ]
    if not candidates:
        raise FileNotFoundError(
            f"ckpt_path=last: no */checkpoints/last.ckpt under {runs_dir}; train first or give a checkpoint path"
        )
    return max(candidates, key=lambda p: p.stat().st_mtime)


def run_summary(trainer: L.Trainer, output_dir: str | Path) -> list[str]:
    """Lines naming the run directory, checkpoint, export, PNG grids and logger output of a finished run."""
    lines = [f"run directory : {output_dir}"]
    # Lightning assigns `Trainer.callbacks` in its callback connector and declares it nowhere mypy can see.
    callbacks: list[L.Callback] = trainer.callbacks  # type: ignore[attr-defined]
    for callback in callbacks:
        if isinstance(callback, IterationCheckpoint) and callback.last_model_path:
            lines.append(f"checkpoint    : {callback.last_model_path}")
            if callback.last_export_path:
                lines.append(f"export        : {callback.last_export_path}  (official {{params, params_ema}} format)")
        if isinstance(callback, ImageGridCallback) and callback.saved:
            lines.append(
                f"image grids   : {callback.dirpath} ({len(callback.saved)} PNG, newest {callback.saved[-1].name})"
            )
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            run = logger.experiment
            run_dir = Path(getattr(run, "dir", "") or logger.save_dir or "").parent
            mode = "offline" if logger._offline else "online"
            lines.append(
                f"W&B ({mode})  : {run_dir}" + ("  (upload: wandb sync <that dir>)" if logger._offline else "")
            )
        elif isinstance(logger, CSVLogger | TensorBoardLogger):
            lines.append(f"{type(logger).__name__:13s} : {logger.log_dir}")
    return lines
