"""CPU threads follow what the process may use (affinity, cgroup quota), not the host's cores; one setting overrides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_info

from facerevive.data import FaceDataModule
from facerevive.utils import cpu_threads
from facerevive.utils.cpu_threads import (
    ThreadSettingError,
    available_cpus,
    cgroup_quota_cpus,
    default_num_workers,
    thread_count,
    use_cpu_threads,
)

pytestmark = pytest.mark.unit


def fake_cgroups(tmp_path: Path, proc_line: str, files: dict[str, str]) -> tuple[Path, Path]:
    """A cgroup tree under tmp_path/cgroup with `files` (relative path -> text) and a /proc/self/cgroup line."""
    root = tmp_path / "cgroup"
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    proc = tmp_path / "proc_cgroup"
    proc.write_text(proc_line + "\n")
    return root, proc


def test_cgroup_v2_quota_is_the_tightest_along_the_path(tmp_path: Path) -> None:
    root, proc = fake_cgroups(
        tmp_path,
        "0::/slurm/job_7/step_0",
        {"cpu.max": "max 100000", "slurm/job_7/cpu.max": "150000 100000", "slurm/job_7/step_0/cpu.max": "max 100000"},
    )
    assert cgroup_quota_cpus(root, proc) == 1.5


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    files = {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "200000", "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000"}
    root, proc = fake_cgroups(tmp_path, "4:cpu,cpuacct:/docker/abc", files)
    assert cgroup_quota_cpus(root, proc) == 2.0
    root, proc = fake_cgroups(tmp_path / "none", "4:cpu,cpuacct:/", {"cpu,cpuacct/cpu.cfs_quota_us": "-1"})
    assert cgroup_quota_cpus(root, proc) is None


def test_quota_below_affinity_caps_the_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACEREVIVE_THREADS", raising=False)
    monkeypatch.setattr(cpu_threads, "affinity_cpus", lambda: 64)
    monkeypatch.setattr(cpu_threads, "cgroup_quota_cpus", lambda: 1.5)
    assert available_cpus() == 2 and thread_count() == 2
    monkeypatch.setattr(cpu_threads, "cgroup_quota_cpus", lambda: None)
    assert available_cpus() == 64


def test_the_setting_overrides_the_environment_which_overrides_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_threads, "available_cpus", lambda: 8)
    monkeypatch.setenv("FACEREVIVE_THREADS", "3")
    assert thread_count() == 3 and thread_count(5) == 5
    monkeypatch.setenv("FACEREVIVE_THREADS", "lots")
    with pytest.raises(ThreadSettingError, match=r"^FACEREVIVE_THREADS='lots': allowed values are integers >= 1"):
        thread_count()
    with pytest.raises(ThreadSettingError, match=r"^threads=0: allowed"):
        thread_count(0)


def test_every_pool_and_the_children_get_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    previous = torch.get_num_threads()
    for name in cpu_threads.CHILD_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cpu_threads, "available_cpus", lambda: 1)
    monkeypatch.delenv("FACEREVIVE_THREADS", raising=False)
    try:
        assert use_cpu_threads() == 1
        assert torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
        assert os.environ["OMP_NUM_THREADS"] == os.environ["OPENBLAS_NUM_THREADS"] == "1"
    finally:
        cpu_threads.set_thread_pools(previous)


def test_default_workers_leave_the_training_process_a_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [default_num_workers(n) for n in (1, 2, 4, 64)] == [0, 1, 3, 6]
    monkeypatch.setattr(cpu_threads, "available_cpus", lambda: 3)
    monkeypatch.delenv("FACEREVIVE_THREADS", raising=False)
    assert FaceDataModule(num_workers=None)._loader_kwargs()["num_workers"] == 2
    assert FaceDataModule(num_workers=0)._loader_kwargs()["num_workers"] == 0


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_a_one_cpu_affinity_gives_one_thread_everywhere() -> None:
    """In a process pinned to one CPU, as `taskset -c 0` starts it, with OpenMP told otherwise."""
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); import torch;"
        "from facerevive.utils.cpu_threads import use_cpu_threads; from threadpoolctl import threadpool_info;"
        "use_cpu_threads(); print(torch.get_num_threads(), max(p['num_threads'] for p in threadpool_info()))"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "4", "FACEREVIVE_THREADS": ""}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "1"]


def test_restore_refuses_a_bad_thread_count_in_one_line(tmp_path: Path) -> None:
    from helpers.configs import compose_config

    from facerevive.restore.options import OptionError, restore_options

    cfg = compose_config("restore.yaml", ["input=photo.jpg", "threads=0"], tmp_path)
    with pytest.raises(OptionError, match=r"^threads=0: allowed values are integers >= 1"):
        restore_options(cfg)
