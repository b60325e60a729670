"""How many CPUs this process may use, and every thread pool of the process sized to that number.

torch, OpenMP and the BLAS libraries size their pools by the host's cores. A process limited to fewer (a `taskset`
or `numactl` affinity, a container's or SLURM job's cgroup CPU quota) then runs more threads than it gets CPUs, and
threads that wait for each other at every parallel region lose most of their time (the quickstart on a 2-core
machine with one busy neighbour: 0.05 it/s instead of about 1). Here the count is the smaller of the affinity and
the cgroup quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`, the tightest along the process's
cgroup path), and one setting overrides it: the `threads=` key of the commands, else `FACEREVIVE_THREADS`.

`use_cpu_threads` applies it to torch's intra- and inter-op pools, to every OpenMP / BLAS pool loaded in the process
(threadpoolctl) and, through the usual environment variables, to child processes; `default_num_workers` gives
the data loader's worker count for the same CPUs.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from pathlib import Path

log = logging.getLogger(__name__)

ENV_VAR = "FACEREVIVE_THREADS"
# The thread-count variables OpenMP, MKL, OpenBLAS, BLIS, Apple Accelerate and numexpr read when a process starts.
CHILD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
# Data-loader workers by default: one per CPU left after the training process, at most the official recipe's 6.
MAX_DEFAULT_WORKERS = 6
CGROUP_ROOT = Path("/sys/fs/cgroup")


class ThreadSettingError(ValueError):
    """`threads=` or FACEREVIVE_THREADS is not a positive integer."""


def affinity_cpus() -> int:
    """The CPUs the scheduler lets this process run on (os.cpu_count where affinity is not supported)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _quota_v2(text: str) -> float | None:
    quota, _, period = text.strip().partition(" ")
    if quota == "max" or not period:
        return None
    return int(quota) / int(period)


def _quota_v1(directory: Path) -> float | None:
    quota = int((directory / "cpu.cfs_quota_us").read_text())
    period = int((directory / "cpu.cfs_period_us").read_text())
    return quota / period if quota > 0 and period > 0 else None


def _cgroup_dirs(root: Path, proc_cgroup: Path) -> list[tuple[Path, bool]]:
    """(folder, is_v2) of this process's cgroup and each of its ancestors, leaf first, for the CPU controller."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    found: list[tuple[Path, bool]] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            base, v2 = root, True
        elif "cpu" in controllers.split(","):
            base, v2 = root / controllers, False
            if not base.is_dir():
                base = root / "cpu"
        else:
            continue
        relative = Path(path.lstrip("/"))
        found += [(base / parent, v2) for parent in (relative, *relative.parents)]
    return found


def cgroup_quota_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (1.5 = 150 ms per 100 ms), the tightest of its cgroup and
    its ancestors; None without a quota (or where cgroups cannot be read)."""
    quotas = []
    for directory, v2 in _cgroup_dirs(root, proc_cgroup):
        try:
            quota = _quota_v2((directory / "cpu.max").read_text()) if v2 else _quota_v1(directory)
        except (OSError, ValueError):
            continue
        if quota is not None:
            quotas.append(quota)
    return min(quotas) if quotas else None


def available_cpus() -> int:
    """The CPUs this process may use: its affinity, capped by its cgroup quota (rounded up), at least 1."""
    cpus = affinity_cpus()
    quota = cgroup_quota_cpus()
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def thread_setting(value: object) -> int | None:
    """`threads=` (or, when that is None, FACEREVIVE_THREADS) as a positive int; None when neither is set."""
    source = "threads"
    if value is None:
        value = os.environ.get(ENV_VAR) or None
        source = ENV_VAR
    if value is None:
        return None
    try:
        count = int(str(value))
    except ValueError:
        count = 0
    if isinstance(value, bool) or count < 1:
        raise ThreadSettingError(
            f"{source}={value!r}: allowed values are integers >= 1 (null: the CPUs this process may use)"
        )
    return count


def thread_count(setting: object = None) -> int:
    """The threads to run: the setting (`threads=` / FACEREVIVE_THREADS), else available_cpus()."""
    chosen = thread_setting(setting)
    return chosen if chosen is not None else available_cpus()


def set_thread_pools(count: int) -> None:
    """`count` threads for torch's intra-op pool and every OpenMP / BLAS pool loaded in this process, the
    inter-op pool where torch still allows it, and the environment variables child processes read."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(count)
    # torch fixes the inter-op pool once it has run inter-op work; the intra-op pool is the busy one.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(count)
    threadpool_limits(limits=count)
    for name in CHILD_ENV_VARS:
        os.environ[name] = str(count)


def use_cpu_threads(setting: object = None) -> int:
    """Size every thread pool of this process to `thread_count(setting)` and return that count."""
    count = thread_count(setting)
    set_thread_pools(count)
    chosen = thread_setting(setting) is not None
    log.info("CPU threads: %d (%s)", count, f"threads= / {ENV_VAR}" if chosen else describe_cpus())
    return count


def describe_cpus() -> str:
    """'affinity: 2 of the host's 8 CPUs, cgroup quota 1.5 CPUs' (what available_cpus saw), for logs."""
    quota = cgroup_quota_cpus()
    text = f"affinity: {affinity_cpus()} of the host's {os.cpu_count()} CPUs"
    return text + (f", cgroup quota {quota:g} CPUs" if quota is not None else "")


def default_num_workers(threads: int | None = None) -> int:
    """Data-loader workers for `threads` CPUs (default: thread_count()): one per CPU besides the training
    process, at most MAX_DEFAULT_WORKERS; 0 (loading in the training process) on one CPU."""
    cpus = thread_count() if threads is None else threads
    return max(0, min(MAX_DEFAULT_WORKERS, cpus - 1))
