"""The training progress line: iteration N of `total_iter` (the IterationModule counter, not Lightning's batches
of an epoch), iterations per second, the ETA of the whole run and the main losses.

On a terminal one line is redrawn in place (carriage return, no colour or cursor codes); a log record written to
the same stream first clears it, so log lines never run into the bar. Elsewhere (a file, a pipe, CI) a plain line
is printed every `print_every_n_iter` iterations, at least every `print_every_seconds` (a slow run is never silent
for long) and at the first and last one.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

import lightning as L
from lightning.pytorch.callbacks import ProgressBar

from facerevive.callbacks.checkpoint import iteration_module

BAR_WIDTH = 20


def format_duration(seconds: float) -> str:
    """H:MM:SS (or M:SS under an hour)."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_text(
    iteration: int,
    total: int,
    rate: float | None,
    elapsed: float,
    losses: dict[str, float],
    skipped: int = 0,
    bar: bool = False,
) -> str:
    """`iter 120/400 30% | 2.31 it/s | 0:52 elapsed | ETA 2:01 | l_g_pix 0.1234 ...` (with `bar`, a bar after %)."""
    fraction = min(iteration / total, 1.0)
    head = f"iter {iteration}/{total} {fraction:4.0%}"
    if bar:
        filled = round(fraction * BAR_WIDTH)
        head += " " + "#" * filled + "-" * (BAR_WIDTH - filled)
    speed = (f"{rate:.0f}" if rate >= 100 else f"{rate:.3g}") + " it/s" if rate else "-- it/s"
    eta = format_duration((total - iteration) / rate) if rate else "--"
    parts = [head, speed, f"{format_duration(elapsed)} elapsed", f"ETA {eta}"]
    if losses:
        parts.append("  ".join(f"{name} {value:.4g}" for name, value in losses.items()))
    if skipped:
        parts.append(f"{skipped} non-finite skipped")
    return " | ".join(parts)


class _ClearLine(logging.Filter):
    """Clears the progress line before a log record is written to its stream."""

    def __init__(self, bar: IterationProgressBar) -> None:
        super().__init__()
        self.bar = bar

    def filter(self, record: logging.LogRecord) -> bool:
        self.bar.clear()
        return True


class IterationProgressBar(ProgressBar):
    """Progress of an IterationModule run (GFPGAN or the StyleGAN2 prior) on `stream` (default sys.stdout).

    `losses`: the loss terms to show, in order, of those the module reports in `last_losses` (names a module does
    not have are left out). `refresh_seconds`: the shortest interval between two redraws on a terminal;
    `print_every_seconds`: the longest silence off a terminal (a line is printed once it has passed).
    """

    def __init__(
        self,
        losses: Sequence[str] = ("l_g_pix", "l_g_percep", "l_identity", "l_g_gan", "l_g", "l_d"),
        print_every_n_iter: int = 50,
        refresh_seconds: float = 0.5,
        print_every_seconds: float = 60.0,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__()
        if print_every_n_iter < 1:
            raise ValueError(f"print_every_n_iter must be >= 1, got {print_every_n_iter}")
        if not print_every_seconds > 0:
            raise ValueError(f"print_every_seconds must be > 0, got {print_every_seconds}")
        self.losses = tuple(losses)
        self.print_every_seconds = print_every_seconds
        self.print_every_n_iter = print_every_n_iter
        self.refresh_seconds = refresh_seconds
        self._stream = stream
        self._enabled = True
        self._line_length = 0
        self._drawn_at = 0.0
        self._started_at = 0.0
        # (iteration, time) at the start of the run and after its first iteration: the rate's reference points.
        self._start = (0, 0.0)
        self._after_first: tuple[int, float] | None = None
        self._filter = _ClearLine(self)
        self._filtered: list[logging.Handler] = []

    # ------------------------------------------------------------ ProgressBar protocol
    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def print(self, *args: Any, **kwargs: Any) -> None:
        self.clear()
        print(*args, file=self.stream, flush=True, **kwargs)

    # ------------------------------------------------------------ output
    @property
    def stream(self) -> TextIO:
        """Where the progress goes: the given stream, else the current sys.stdout (captured in tests)."""
        return self._stream if self._stream is not None else sys.stdout

    @property
    def interactive(self) -> bool:
        """Whether `stream` is a terminal (the line is redrawn) rather than a file or pipe (lines are printed)."""
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def clear(self) -> None:
        """Blank the redrawn line (terminal only) so that other output starts on a clean line."""
        if self._line_length:
            self.stream.write("\r" + " " * self._line_length + "\r")
            self.stream.flush()
            self._line_length = 0

    def _draw(self, text: str) -> None:
        width = shutil.get_terminal_size().columns - 1
        text = text[:width]
        self.stream.write("\r" + text.ljust(self._line_length))
        self.stream.flush()
        self._line_length = len(text)

    # ------------------------------------------------------------ hooks
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        now = time.perf_counter()
        self._started_at = now
        self._start = (iteration_module(pl_module).iteration, now)
        self._after_first = None
        if self._enabled and self.interactive:
            for handler in logging.getLogger().handlers:
                if getattr(handler, "stream", None) is self.stream:
                    handler.addFilter(self._filter)
                    self._filtered.append(handler)

    def _rate(self, iteration: int, now: float) -> float | None:
        """Iterations per second since the first iteration of this run (which pays the start-up), or over the
        first iteration while it is the only one."""
        start, at = self._after_first or self._start
        if iteration <= start or now <= at:
            return None
        return (iteration - start) / (now - at)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self._enabled:
            return
        module = iteration_module(pl_module)
        now = time.perf_counter()
        rate = self._rate(module.iteration, now)
        first = self._after_first is None
        if first:
            self._after_first = (module.iteration, now)
        last = module.training_finished
        if self.interactive:
            if not (first or last) and now - self._drawn_at < self.refresh_seconds:
                return
            self._drawn_at = now
        else:
            due = module.iteration % self.print_every_n_iter == 0 or now - self._drawn_at >= self.print_every_seconds
            if not (first or last or due):
                return
            self._drawn_at = now
        available = _losses(module)
        text = progress_text(
            module.iteration,
            module.total_iter,
            rate,
            now - self._started_at,
            {name: available[name] for name in self.losses if name in available},
            skipped=module.nonfinite.skipped,
            bar=self.interactive,
        )
        if self.interactive:
            self._draw(text)
            if last:  # the final line stays on screen (log records after it start below)
                self._end_line()
        else:
            print(text, file=self.stream, flush=True)

    def _end_line(self) -> None:
        if self._line_length:
            self.stream.write("\n")
            self.stream.flush()
            self._line_length = 0

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._end_line()
        for handler in self._filtered:
            handler.removeFilter(self._filter)
        self._filtered = []

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.on_train_end(trainer, pl_module)


def _losses(module: Any) -> dict[str, float]:
    """The module's loss terms of its last iteration (GFPGANModule and StyleGAN2Module keep `last_losses`)."""
    return dict(getattr(module, "last_losses", {}))
