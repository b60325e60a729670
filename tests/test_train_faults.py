"""Training faults on the quickstart at tiny sizes (CPU): stop signals, requeue, unique run directories, storage,
corrupt checkpoints, a SIGKILL during a checkpoint write, resumes with changed or finished configs."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from helpers.configs import compose_config
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from facerevive.callbacks import StorageError
from facerevive.callbacks.run_config import ResumeConfigError
from facerevive.cli.train import run as train_run
from facerevive.paths import CONFIG_DIR, PROJECT_ROOT
from facerevive.training.run_files import CheckpointError

pytestmark = pytest.mark.e2e

QUIET = ["extras.print_config=false", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
TINY = [*QUIET, "logger=csv", "callbacks.image_grid.every_n_iter=1000", "data.train.component_size=512"]


class MarkIteration(L.Callback):
    """Writes the iteration reached to `path` after every iteration (the test process watches it)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.path.write_text(str(pl_module.iteration))


class SlowPickle:
    """Pickling it announces itself in `marker` and then sleeps: a checkpoint write that is still going on."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        Path(self.marker).write_text("writing")
        time.sleep(120)
        return (int, (0,))


class SlowWriter(L.Callback):
    """Puts a SlowPickle into the checkpoint of iteration `at`."""

    def __init__(self, at: int, marker: str) -> None:
        self.at = at
        self.marker = marker

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        if pl_module.iteration == self.at:
            checkpoint["slow"] = SlowPickle(self.marker)


def cfg_for(tmp_path: Path, overrides: list[str], run_dir: Path | None = None):
    return compose_config("train.yaml", [*TINY, *overrides], tmp_path, run_dir)


def start_script(tmp_path: Path, run_dir: Path, overrides: list[str]) -> subprocess.Popen:
    env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "tests"), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable,
        str(PROJECT_ROOT / "train.py"),
        *TINY,
        f"paths.log_dir={tmp_path / 'logs'}",
        f"hydra.run.dir={run_dir}",
        *overrides,
    ]
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 300, min_value: int | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read().decode()[-4000:])  # type: ignore[union-attr]
        if path.exists() and (min_value is None or int(path.read_text() or 0) >= min_value):
            return
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"{path} did not appear in {timeout} s")


@pytest.mark.parametrize(("name", "status"), [("SIGTERM", 143), ("SIGINT", 130), ("SIGUSR1", 138)])
def test_signal_saves_the_iteration_reached_and_exits_nonzero(tmp_path: Path, name: str, status: int) -> None:
    """A stop signal mid-run: checkpoint at the iteration reached (0 lost), exit 128 + signal, within seconds."""
    run_dir, mark = tmp_path / "run", tmp_path / "iteration"
    process = start_script(
        tmp_path,
        run_dir,
        [
            "model.total_iter=100000",
            "callbacks.iteration_checkpoint.every_n_iter=100000",
            f"+callbacks.mark={{_target_: test_train_faults.MarkIteration, path: '{mark}'}}",
        ],
    )
    wait_for(mark, process, min_value=2)
    sent = time.monotonic()
    process.send_signal(getattr(signal, name))
    output = process.communicate(timeout=120)[0].decode()
    seconds = time.monotonic() - sent
    assert process.returncode == status, output[-4000:]
    reached = int(mark.read_text())
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["iteration"] == reached, "iterations were lost"
    assert f"stopped by a signal at iteration {reached}" in output
    assert seconds < 60, f"{name}: {seconds:.1f} s from signal to exit"
    print(f"{name}: exit {process.returncode}, {seconds:.2f} s from signal to exit, 0 iterations lost")
    assert not list(run_dir.rglob("*.tmp"))


def test_sigkill_during_a_checkpoint_write_then_resume_finishes_clean(tmp_path: Path) -> None:
    """SIGKILL while iteration 3's checkpoint is being written; the resume finishes and leaves no stray file."""
    run_dir, marker = tmp_path / "killed", tmp_path / "writing"
    process = start_script(
        tmp_path,
        run_dir,
        [
            "model.total_iter=5",
            "callbacks.iteration_checkpoint.every_n_iter=1",
            f"+callbacks.slow={{_target_: test_train_faults.SlowWriter, at: 3, marker: '{marker}'}}",
        ],
    )
    wait_for(marker, process)
    time.sleep(0.5)
    process.kill()
    process.wait(timeout=30)
    checkpoints = run_dir / "checkpoints"
    assert list(checkpoints.glob(".*.tmp")), "the kill should have interrupted a write"
    cfg = cfg_for(tmp_path, ["model.total_iter=5", f"ckpt_path={checkpoints / 'last.ckpt'}"], tmp_path / "resumed")
    _, objects = train_run(cfg)
    assert objects["model"].iteration == 5
    assert not list(tmp_path.rglob("*.tmp")), "stray temporary files remain"


def test_requeued_run_resumes_from_its_own_checkpoint(tmp_path: Path) -> None:
    """A run directory that already holds last.ckpt (a requeued SLURM job) continues from it."""
    run_dir = tmp_path / "job"
    train_run(cfg_for(tmp_path, ["model.total_iter=2"], run_dir))
    _, objects = train_run(cfg_for(tmp_path, ["model.total_iter=3"], run_dir))
    assert objects["model"].iteration == 3
    slurm = compose_config("train.yaml", ["hydra/launcher=slurm"], tmp_path).hydra.launcher
    assert slurm.max_num_timeout > 0 and slurm.signal_delay_s > 0


def test_run_directories_are_unique_within_a_second() -> None:
    GlobalHydra.instance().clear()
    dirs = []
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        for _ in range(2):
            cfg = compose("train.yaml", return_hydra_config=True)
            dirs.append(OmegaConf.to_container(cfg.hydra.run, resolve=True)["dir"])
    assert dirs[0] != dirs[1]


def test_unwritable_or_full_checkpoint_folder_fails_at_start(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cfg = cfg_for(tmp_path, ["model.total_iter=2", f"callbacks.iteration_checkpoint.dirpath={blocker / 'ckpt'}"])
    with pytest.raises(StorageError, match="not writable"):
        train_run(cfg)
    import facerevive.callbacks.checkpoint as checkpoint_module

    monkeypatch.setattr(checkpoint_module.shutil, "disk_usage", lambda path: type("U", (), {"free": 1024})())
    with pytest.raises(StorageError, match="MiB free"):
        train_run(cfg_for(tmp_path, ["model.total_iter=2"], tmp_path / "full"))
    assert not list((tmp_path / "full").rglob("*.ckpt"))


def test_corrupt_last_falls_back_to_the_newest_intact_checkpoint(tmp_path: Path, caplog) -> None:
    run_dir = tmp_path / "first"
    train_run(cfg_for(tmp_path, ["model.total_iter=2", "callbacks.iteration_checkpoint.every_n_iter=1"], run_dir))
    checkpoints = run_dir / "checkpoints"
    last = checkpoints / "last.ckpt"
    last.unlink()
    last.write_bytes(b"truncated")
    with caplog.at_level(logging.WARNING):
        _, objects = train_run(cfg_for(tmp_path, ["model.total_iter=3", f"ckpt_path={last}"], tmp_path / "second"))
    assert objects["model"].iteration == 3
    assert str(last) in caplog.text and "iter_00000002.ckpt" in caplog.text
    for path in checkpoints.glob("iter_*.ckpt"):
        path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="no intact"):
        train_run(cfg_for(tmp_path, ["model.total_iter=3", f"ckpt_path={last}"], tmp_path / "third"))


def test_resume_applies_learning_rates_refuses_other_changes_and_stops_when_finished(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "first"
    train_run(cfg_for(tmp_path, ["model.total_iter=2"], run_dir))
    last = run_dir / "checkpoints" / "last.ckpt"
    stored = torch.load(last, map_location="cpu", weights_only=True)["run_config"]
    lr = stored["model"]["optimizer_g"]["lr"]
    resume = ["model.total_iter=3", f"ckpt_path={last}"]
    _, objects = train_run(cfg_for(tmp_path, [*resume, f"model.optimizer_g.lr={2 * lr}"], tmp_path / "lr"))
    assert objects["trainer"].optimizers[0].param_groups[0]["lr"] == pytest.approx(2 * lr)
    with pytest.raises(ResumeConfigError, match=r"model\.net_d\.narrow"):
        train_run(cfg_for(tmp_path, [*resume, "model.net_d.narrow=0.5"], tmp_path / "refused"))
    # A checkpoint of a run that still had the share_real_component_pass switch (removed, its path always on).
    legacy = torch.load(last, map_location="cpu", weights_only=True)
    legacy["run_config"]["model"]["share_real_component_pass"] = False
    torch.save(legacy, tmp_path / "legacy.ckpt")
    _, objects = train_run(
        cfg_for(tmp_path, ["model.total_iter=3", f"ckpt_path={tmp_path / 'legacy.ckpt'}"], tmp_path / "old")
    )
    assert objects["model"].iteration == 3
    metrics, objects = train_run(cfg_for(tmp_path, ["model.total_iter=2", f"ckpt_path={last}"], tmp_path / "done"))
    assert metrics == {} and "trainer" not in objects
    assert "finished run" in capsys.readouterr().out


def test_keep_last_n_bounds_the_checkpoints_by_default(tmp_path: Path, compose) -> None:
    """The recipes keep the newest 3 iteration files of each kind; last.ckpt and net_g_latest.pth stay."""
    from hydra.utils import instantiate

    from facerevive.callbacks import IterationCheckpoint

    cfg = compose("train.yaml", ["experiment=gfpgan_v1"])  # the recipes; the quickstart keeps only 1 (run size)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    callback = instantiate(cfg.callbacks.iteration_checkpoint, dirpath=folder)
    assert isinstance(callback, IterationCheckpoint) and callback.keep_last_n == 3
    names = [f"iter_{i:08d}.ckpt" for i in range(1, 6)] + [f"net_g_{i:08d}.pth" for i in range(1, 6)]
    for name in [*names, "last.ckpt", "net_g_latest.pth"]:
        (folder / name).write_bytes(b"x")
    callback._prune()
    left = sorted(path.name for path in folder.iterdir())
    assert left == sorted([*names[2:5], *names[7:10], "last.ckpt", "net_g_latest.pth"])
