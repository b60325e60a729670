"""Atomic file writes: a temporary file in the destination folder, then a rename.

Readers never see a partial file, and on any error (including KeyboardInterrupt) the temporary file is
removed, so a failed write leaves neither a half-written target nor a stray `.tmp` file. The files get the
permissions of any file the user creates (0666 less the umask, usually 0644), not tempfile's private 0600.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# What open() asks for; the process umask takes away the rest (0o022 -> 0o644).
FILE_MODE = 0o666


def _new_temp_file(path: Path) -> Path:
    """Create an empty, unique `.<name>.<random>.tmp` beside `path` with mode FILE_MODE less the umask."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        except FileExistsError:
            continue
        return tmp


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp_file(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_writable_dir(folder: str | Path) -> None:
    """Create `folder` and a temporary file in it; the OSError of whichever fails is raised (checked before work)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp_path)` and move the result to `path` atomically; returns `path`."""
    path = Path(path)
    with atomic_path(path) as tmp:
        write(tmp)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text to `path` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """torch.save `obj` to `path` atomically."""
    import torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp))
