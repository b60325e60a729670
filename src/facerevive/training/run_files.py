"""Where a run's files are: the newest intact checkpoint to resume from, and the end-of-run summary with the
commands that use the model just made."""

from __future__ import annotations

import logging
import shlex
import sys
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


# Width of the labels of the summary lines ("checkpoint    : ...").
LABEL_WIDTH = 13


def _line(label: str, value: str) -> str:
    return f"{label:{LABEL_WIDTH}s} : {value}"


def console_script(name: str) -> str:
    """How to call the console script `name` of this environment from a new shell: its path beside the Python
    that runs (relative to the current folder when inside it, e.g. .venv/bin/facerevive-restore), else the name."""
    script = Path(sys.executable).parent / name
    if not script.is_file():
        return name
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def next_steps(checkpoint: str, export: str) -> list[str]:
    """The commands that restore photos with the model just made and score it, with its real paths."""
    weights = export or checkpoint
    restore = [console_script("facerevive-restore"), "input=<photo or folder>", "output=results", f"weights={weights}"]
    evaluate = [console_script("facerevive-evaluate"), f"methods=[input,ours:{checkpoint}]"]
    return [
        "next steps:",
        "  restore photos : " + " ".join(shlex.quote(arg) if "<" not in arg else arg for arg in restore),
        "  score it       : " + shlex.join(evaluate) + "  (add dataset=paired dataset.root=<your held-out pairs>)",
    ]


def run_summary(trainer: L.Trainer, output_dir: str | Path, resumed_from: str | None = None) -> list[str]:
    """Lines naming the run directory, checkpoint, export, PNG grids and logger output of a finished run, where a
    resumed run's earlier files are (`resumed_from`, a checkpoint of another run folder), then the next steps."""
    lines = [_line("run directory", str(output_dir))]
    if resumed_from is not None and Path(output_dir).resolve() not in Path(resumed_from).resolve().parents:
        earlier = Path(resumed_from).parent.parent
        lines.append(_line("resumed from", f"{resumed_from} (the earlier checkpoints and grids stay in {earlier})"))
    checkpoint = export = ""
    # Lightning assigns `Trainer.callbacks` in its callback connector and declares it nowhere mypy can see.
    callbacks: list[L.Callback] = trainer.callbacks  # type: ignore[attr-defined]
    for callback in callbacks:
        if isinstance(callback, IterationCheckpoint) and callback.last_model_path:
            checkpoint, export = callback.last_model_path, callback.last_export_path
            lines.append(_line("checkpoint", checkpoint))
            if export:
                lines.append(_line("export", f"{export}  (official {{params, params_ema}} format)"))
        if isinstance(callback, ImageGridCallback) and callback.saved:
            lines.append(
                _line(
                    "image grids", f"{callback.dirpath} ({len(callback.saved)} PNG, newest {callback.saved[-1].name})"
                )
            )
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            run = logger.experiment
            run_dir = Path(getattr(run, "dir", "") or logger.save_dir or "").parent
            mode = "offline" if logger._offline else "online"
            upload = "  (upload: wandb sync <that dir>)" if logger._offline else ""
            lines.append(_line(f"W&B ({mode})", f"{run_dir}{upload}"))
        elif isinstance(logger, CSVLogger | TensorBoardLogger):
            lines.append(_line(type(logger).__name__, str(logger.log_dir)))
    if checkpoint:
        lines += ["", *next_steps(checkpoint, export)]
    return lines
