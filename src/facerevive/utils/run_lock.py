"""One run per folder: an ownership record in a training run's folders for as long as it runs.

A second run pointed at a folder another live run owns (the same `hydra.run.dir`, or the same checkpoint folder)
is refused with one line naming the folder and the owner, instead of both overwriting each other's checkpoints
and export. The record (`.facerevive-run.lock`: pid, host, start time, the process's kernel start time and the
SLURM job) is created atomically (a hard link of a complete temporary file, which fails when a record exists)
and removed when the run ends, also on an exception, Ctrl-C, or a stop signal during training (StopOnSignal ends
the run cleanly). A record left by a run that died without cleaning up (SIGKILL, a signal's default action
outside training, power loss) is stale and taken over with a warning when its process is gone
from this host (or its pid now belongs to a later process), or when this process is the same SLURM job (a
requeue: SLURM ended the earlier one). A record of another host cannot be checked: the message says to remove
it if that run is gone. A resume in the same folder after the first run ended finds no record.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from facerevive.utils.files import sync_path

log = logging.getLogger(__name__)

LOCK_NAME = ".facerevive-run.lock"


class RunFolderBusyError(RuntimeError):
    """A folder another live run owns; `str()` is one line naming the folder and the owner."""


@dataclass(frozen=True)
class Owner:
    """Who holds a run folder."""

    pid: int
    host: str
    started: str
    # Kernel start time of the process (clock ticks since boot, /proc/<pid>/stat): tells a reused pid apart.
    process_start: int | None = None
    slurm_job: str | None = None

    @classmethod
    def current(cls) -> Owner:
        """This process."""
        pid = os.getpid()
        return cls(
            pid=pid,
            host=socket.gethostname(),
            started=time.strftime("%Y-%m-%d %H:%M:%S %z"),
            process_start=process_start(pid),
            slurm_job=os.environ.get("SLURM_JOB_ID"),
        )

    def describe(self) -> str:
        job = f", SLURM job {self.slurm_job}" if self.slurm_job else ""
        return f"pid {self.pid} on {self.host}{job}, started {self.started}"


def process_start(pid: int) -> int | None:
    """The kernel start time of process `pid` (Linux /proc), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) is in parentheses and may hold spaces.
    return int(stat.rsplit(")", 1)[1].split()[19])


def read_owner(path: Path) -> Owner | None:
    """The record at `path`; None when it cannot be read as one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Owner(**data) if isinstance(data, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def stale_reason(owner: Owner | None) -> str | None:
    """Why the record of `owner` is stale (its run is gone), or None when that run may still be going on."""
    if owner is None:
        return "the record is unreadable"
    me = Owner.current()
    if owner.slurm_job is not None and owner.slurm_job == me.slurm_job and owner.pid != me.pid:
        return f"this is a requeue of SLURM job {owner.slurm_job}"
    if owner.host != me.host:
        return None
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return f"process {owner.pid} is gone"
    except PermissionError:
        pass  # alive, another user's
    now = process_start(owner.pid)
    if owner.process_start is not None and now is not None and now != owner.process_start:
        return f"pid {owner.pid} now belongs to another process"
    return None


def acquire(folder: Path, me: Owner) -> Path:
    """Create `folder`'s record for `me`, taking over a stale one; RunFolderBusyError when a live run holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_NAME
    text = json.dumps(asdict(me))
    for _ in range(3):
        tmp = folder / f"{LOCK_NAME}.{me.pid}.{secrets.token_hex(4)}"
        try:
            tmp.write_text(text, encoding="utf-8")
            sync_path(tmp)
            os.link(tmp, lock)  # fails when a record exists: creation and complete content in one step
            sync_path(folder)
            return lock
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        owner = read_owner(lock)
        reason = stale_reason(owner)
        if reason is None:
            assert owner is not None
            raise RunFolderBusyError(
                f"{folder} belongs to another run ({owner.describe()}; {lock}): give this run another folder "
                "(hydra.run.dir=...), or wait for that one to end (remove the file if that run is gone)"
            )
        log.warning("%s: taking over the run folder's stale record (%s)", lock, reason)
        lock.unlink(missing_ok=True)
    raise RunFolderBusyError(f"{folder}: another run keeps taking {lock}; give this run another folder")


def release(lock: Path, me: Owner) -> None:
    """Remove `lock` if it is still `me`'s record."""
    if read_owner(lock) == me:
        lock.unlink(missing_ok=True)


@contextmanager
def owned_folders(folders: Sequence[str | Path]) -> Iterator[Owner]:
    """Hold every folder of `folders` (created if absent) for this process within the block."""
    me = Owner.current()
    unique = list(dict.fromkeys(Path(folder).resolve() for folder in folders))
    with ExitStack() as stack:
        for folder in unique:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError:
                continue  # a folder that cannot be made cannot be owned: the storage check at start names it
            lock = acquire(folder, me)
            stack.callback(release, lock, me)
        yield me
