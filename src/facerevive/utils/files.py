"""Atomic file writes: a temporary file in the destination folder, synced, then a rename, then the folder synced.

Readers never see a partial file, and on any error (including KeyboardInterrupt) the temporary file is
removed, so a failed write leaves neither a half-written target nor a stray `.tmp` file. The temporary file's
data reach the disk (fsync) before the rename and the rename reaches it (fsync of the folder) before the write
returns, so a power loss leaves the old file or the new one under the final name, never an empty or torn one.
A full disk is a DiskFullError naming the folder and its free space (torch's zip writer reports it as a
RuntimeError that never says so). The files get the permissions of any file the user creates (0666 less the
umask, usually 0644), not tempfile's private 0600.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# What open() asks for; the process umask takes away the rest (0o022 -> 0o644).
FILE_MODE = 0o666
# The errors of a write that found no room: no space left, or the user's disk quota reached.
NO_ROOM_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# torch.save's zip writer turns a failed write into a RuntimeError that never names the cause: "PytorchStreamWriter
# failed writing file ..." (torch <= 2.5) or "[enforce fail at inline_container.cc:...] . unexpected pos ..." with
# "basic_ios::clear: iostream error" as its context (torch 2.14 on a full tmpfs).
TORCH_WRITE_ERRORS = ("PytorchStreamWriter failed writing", "inline_container.cc", "iostream error")
# Below this many bytes free at the moment a torch write failed, the failure is taken as a full disk.
NEARLY_FULL_BYTES = 1 << 20


class DiskFullError(OSError):
    """A write that found no room on its device; `str()` is one line naming the folder and the free space."""


def sync_path(path: Path) -> None:
    """fsync `path` (a file or, on POSIX, a folder): its data, or the entries renamed into it, reach the disk."""
    if path.is_dir() and os.name == "nt":  # Windows cannot open a folder; NTFS journals the rename itself
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_synced(tmp: Path, path: Path) -> None:
    """Move the written `tmp` to `path` durably: fsync `tmp`, rename it, fsync the folder."""
    sync_path(tmp)
    os.replace(tmp, path)
    sync_path(path.parent)


def _is_no_room(exc: BaseException, folder: Path) -> bool:
    """Whether `exc` (raised while writing into `folder`) means the device is full."""
    if isinstance(exc, OSError):
        return exc.errno in NO_ROOM_ERRNOS
    causes = [exc, exc.__cause__, exc.__context__]
    if not any(isinstance(c, RuntimeError) and any(m in str(c) for m in TORCH_WRITE_ERRORS) for c in causes):
        return False
    try:
        return shutil.disk_usage(folder).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def disk_full_error(path: Path) -> DiskFullError:
    """The one-line DiskFullError of a write of `path` (called once its partial file is removed)."""
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:.1f} MiB free"
    except OSError as exc:
        free = f"free space unknown: {exc.strerror}"
    error = DiskFullError(
        f"no space left on the device of {path.parent} while writing {path.name} ({free} there, the partial "
        "file removed): free some space or point the output elsewhere"
    )
    error.errno = errno.ENOSPC
    return error


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
    """Yield a temporary path beside `path`; on success it replaces `path` (synced, see the module docstring),
    on error it is removed; a full disk is raised as DiskFullError."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp_file(path)
    no_room = False
    try:
        yield tmp
        replace_synced(tmp, path)
    except (OSError, RuntimeError) as exc:
        no_room = not isinstance(exc, DiskFullError) and _is_no_room(exc, path.parent)
        if not no_room:
            raise
    finally:
        tmp.unlink(missing_ok=True)
    if no_room:
        raise disk_full_error(path) from None


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
