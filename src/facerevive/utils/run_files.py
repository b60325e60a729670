"""Where a run's files are: the newest intact checkpoint to resume from, and the end-of-run summary."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import lightning as L
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger

from facerevive.callbacks import ImageGridCallback, IterationCheckpoint
from facerevive.callbacks.checkpoint import remove_stray_temp_files

log = logging.getLogger(__name__)
T = TypeVar("T")


class CheckpointError(RuntimeError):
    """No intact checkpoint to resume from."""


def intact_checkpoint(path: str | Path, read: Callable[[str], T]) -> tuple[str, T]:
    """(`path`, read(path)), or when `path` cannot be read, the newest readable `iter_*.ckpt` beside it, with a
    warning naming both; CheckpointError (one line) when none is readable. Stray temporary files of killed
    writes in that folder are removed."""
    path = Path(path)
    for stray in remove_stray_temp_files(path.parent):
        log.warning("removed %s (a checkpoint write that did not finish)", stray)
    try:
        return str(path), read(str(path))
    except Exception as exc:  # any unreadable file: truncated zip, bad pickle, I/O error
        first_error = exc
    for candidate in sorted(path.parent.glob("iter_*.ckpt"), reverse=True):
        if candidate.samefile(path):
            continue
        try:
            content = read(str(candidate))
        except Exception:
            continue
        log.warning("%s is unreadable (%s): resuming from %s, the newest intact one", path, first_error, candidate)
        return str(candidate), content
    raise CheckpointError(f"{path} is unreadable ({first_error}) and no intact iter_*.ckpt is beside it")


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
