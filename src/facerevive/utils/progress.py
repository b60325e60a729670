"""Progress bars of the commands (restore, evaluate, weight download): tqdm on stderr, only for a person.

A bar is drawn only when stderr is a terminal and the command was not asked to be quiet, so logs, pipes and CI
output get no carriage-return noise; stdout stays free for the command's results.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress_bar(
    iterable: Iterable[T] | None = None, *, desc: str, total: float | None = None, quiet: bool = False, **options: Any
) -> tqdm[T]:
    """A tqdm bar over `iterable` (or updated by hand) with `desc`, rate and ETA, on the current sys.stderr;
    disabled when `quiet` or when that stream is not a terminal. `options` go to tqdm (unit, unit_scale...)."""
    stream = sys.stderr
    enabled = not quiet and hasattr(stream, "isatty") and stream.isatty()
    return tqdm(iterable, desc=desc, total=total, file=stream, disable=not enabled, dynamic_ncols=True, **options)
