"""Atomic writes are durable (the temporary file and its folder are fsynced) and a full disk is one line naming
the folder and its free space, with no partial file left (facerevive.utils.files, the one atomic-write path of
checkpoints, exports, reports, images and videos)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch

import facerevive.utils.files as files
from facerevive.utils.files import DiskFullError, atomic_torch_save, atomic_write_text

pytestmark = pytest.mark.unit

# What torch 2.14's zip writer raised when torch.save filled a 512 KiB tmpfs (reproduced as root with
# `mount -t tmpfs -o size=512k`): a RuntimeError naming no cause, with the iostream error as its context.
TORCH_FULL_DISK = "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"
TORCH_FULL_DISK_CONTEXT = "basic_ios::clear: iostream error"


def record_fsyncs(monkeypatch) -> list[str]:
    """Make os.fsync record the path of every descriptor it syncs (then sync it for real)."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", fsync)
    return synced


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name the synced descriptors")
def test_the_temporary_file_is_synced_before_the_rename_and_the_folder_after(tmp_path: Path, monkeypatch) -> None:
    synced = record_fsyncs(monkeypatch)
    renamed_after: list[int] = []
    real_replace = os.replace
    monkeypatch.setattr(files.os, "replace", lambda a, b: (renamed_after.append(len(synced)), real_replace(a, b)))
    target = tmp_path / "net_g_latest.pth"
    atomic_torch_save({"w": torch.ones(3)}, target)
    assert len(synced) == 2 and renamed_after == [1], synced
    assert Path(synced[0]).parent == tmp_path and Path(synced[0]).name.startswith(".net_g_latest.pth.")
    assert Path(synced[1]) == tmp_path
    assert torch.load(target, weights_only=True)["w"].sum() == 3


def fill_then_fail(error: BaseException):
    """A writer that leaves a partial file and then fails as a full disk makes it fail."""

    def write(obj, path) -> None:
        Path(path).write_bytes(b"PK partial zip")
        raise error

    return write


def torch_full_disk_error() -> RuntimeError:
    error = RuntimeError(TORCH_FULL_DISK)
    error.__context__ = RuntimeError(TORCH_FULL_DISK_CONTEXT)
    return error


@pytest.mark.parametrize("kind", ["torch zip writer", "ENOSPC"])
def test_a_full_disk_is_one_line_naming_the_folder_and_its_free_space(tmp_path: Path, monkeypatch, kind) -> None:
    free = type("Usage", (), {"free": 300 * 1024})()
    monkeypatch.setattr(files.shutil, "disk_usage", lambda path: free)
    error = torch_full_disk_error() if kind == "torch zip writer" else OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(torch, "save", fill_then_fail(error))
    target = tmp_path / "checkpoints" / "iter_00000002.ckpt"
    with pytest.raises(DiskFullError) as raised:
        atomic_torch_save({"w": torch.ones(3)}, target)
    message = str(raised.value)
    assert "\n" not in message and raised.value.errno == errno.ENOSPC
    assert f"no space left on the device of {target.parent}" in message and "(0.3 MiB free" in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert list(target.parent.iterdir()) == [], "a partial file was left"


def test_a_torch_write_error_with_room_left_is_not_called_a_full_disk(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(torch, "save", fill_then_fail(torch_full_disk_error()))
    with pytest.raises(RuntimeError, match="inline_container") as raised:
        atomic_torch_save({"w": torch.ones(3)}, tmp_path / "x.pth")
    assert not isinstance(raised.value, DiskFullError)
    assert list(tmp_path.iterdir()) == []


def test_text_writes_report_quota_errors_as_a_full_disk(tmp_path: Path, monkeypatch) -> None:
    def no_room(self, text, **_options):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(Path, "write_text", no_room)
    with pytest.raises(DiskFullError, match=rf"device of {tmp_path} while writing metrics.md"):
        atomic_write_text(tmp_path / "metrics.md", "| method |")
    assert list(tmp_path.iterdir()) == []
