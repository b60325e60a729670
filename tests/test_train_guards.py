"""No wrecked network is saved, rolled back to or used, and a run folder belongs to one run (quickstart at tiny
sizes on CPU, or the pieces): the weight-magnitude guard, checkpoints deferred inside a bad run of iterations,
the probe forward of restore and evaluate, a run that trained nothing, the run-folder lock, a full disk mid-run."""

from __future__ import annotations

import json
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
from helpers.configs import compose_config, tiny_net_g_config
from test_train_faults import TINY, start_script, wait_for

from facerevive.cli.train import NothingTrainedError
from facerevive.cli.train import run as train_run
from facerevive.evaluation.methods import MethodKind, MethodSpec, MethodUnavailableError, open_method
from facerevive.models import NonFiniteError, NonFiniteGuard
from facerevive.paths import PROJECT_ROOT
from facerevive.restore.build import build_network
from facerevive.restore.network import BrokenNetworkError, check_network_output
from facerevive.utils.run_lock import LOCK_NAME, Owner, RunFolderBusyError, acquire, owned_folders
from facerevive.weights.build import generator_from_config

pytestmark = pytest.mark.e2e

BOUND = NonFiniteGuard().max_abs_weight
NO_GRIDS = "callbacks.image_grid=null"


def cfg_for(tmp_path: Path, overrides: list[str], run_dir: Path | None = None):
    return compose_config("train.yaml", [*TINY, NO_GRIDS, *overrides], tmp_path, run_dir)


def largest_saved_weight(folder: Path) -> dict[str, float]:
    """max |w| of every checkpoint and export under `folder`, by file name."""
    found = {}
    for path in [*folder.rglob("*.ckpt"), *folder.rglob("*.pth")]:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        state = saved.get("state_dict") or saved["params_ema"]
        found[path.name] = max(float(t.abs().max()) for t in state.values() if t.is_floating_point() and t.numel())
    return found


def test_exploding_lr_saves_no_network_over_the_bound(tmp_path: Path, caplog) -> None:
    """lr=1e10 once left finite, wrecked networks (max |w| ~ 1e10) in every checkpoint and export. Now the step
    that wrecks them makes the iteration bad, nothing is saved inside the bad run, and the run stops."""
    cfg = cfg_for(
        tmp_path,
        [
            "model.optimizer_g.lr=1e10",
            "model.optimizer_d.lr=1e10",
            "model.total_iter=6",
            "model.nonfinite.max_consecutive=3",
            "callbacks.iteration_checkpoint.every_n_iter=1",
        ],
    )
    with caplog.at_level(logging.WARNING), pytest.raises(NonFiniteError, match="3 bad iterations in a row"):
        train_run(cfg)
    assert f"> model.nonfinite.max_abs_weight={BOUND:g} (optimiser g) at iteration 1" in caplog.text
    assert "iteration 1: not saved, it ends a run of 1 bad iterations" in caplog.text
    saved = largest_saved_weight(Path(cfg.paths.output_dir))
    assert all(value <= BOUND for value in saved.values()), saved


def poison_learning_rate(monkeypatch, at: int) -> list[int]:
    """Set net_g's learning rate to 1e10 for the first run of iteration `at` (a rollback restores the optimiser's
    own rate); returns the iterations run, in order."""
    from facerevive.models import GFPGANModule

    original = GFPGANModule.train_iteration
    seen: list[int] = []

    def poisoned(self, batch, iteration):
        seen.append(iteration)
        if iteration == at and seen.count(at) == 1:
            for group in self.optimizer("g").param_groups:
                group["lr"] = 1e10
        return original(self, batch, iteration)

    monkeypatch.setattr(GFPGANModule, "train_iteration", poisoned)
    return seen


@pytest.mark.slow  # six checkpoints of the quickstart (about 8 min on the loaded 2-core machine)
def test_rollback_returns_to_the_checkpoint_saved_before_the_bad_run(tmp_path: Path, monkeypatch, caplog) -> None:
    """Iteration 4 explodes net_g (finite weights ~1e10). The checkpoint of iteration 4 was once saved and became
    the rollback target, so the run could never recover; now 4 is bad, not saved, and the run returns to 3."""
    seen = poison_learning_rate(monkeypatch, at=4)
    cfg = cfg_for(
        tmp_path,
        [
            "model.total_iter=5",
            "model.nonfinite.policy=rollback",
            "callbacks.iteration_checkpoint.every_n_iter=1",
            "callbacks.iteration_checkpoint.export=false",
            "callbacks.iteration_checkpoint.keep_last_n=3",  # the quickstart keeps 1; this test reads 3 to 5
        ],
    )
    with caplog.at_level(logging.WARNING, logger="facerevive"):
        _, objects = train_run(cfg)
    assert "iteration 4: rolled back to" in caplog.text and "iter_00000003.ckpt (iteration 3)" in caplog.text
    assert seen == [1, 2, 3, 4, 4, 5]
    assert objects["model"].iteration == 5
    saved = largest_saved_weight(Path(cfg.paths.output_dir))
    assert "iter_00000004.ckpt" in saved and all(value <= BOUND for value in saved.values()), saved


def test_a_run_that_trained_no_iteration_fails_with_the_count(tmp_path: Path) -> None:
    """Every iteration skipped (an infinite pixel-loss weight) once ended "finished 3 iterations", exit 0."""
    cfg = cfg_for(tmp_path, ["model.loss_weights.pixel=1e40", "model.total_iter=3"])
    with pytest.raises(NothingTrainedError, match="trained no iteration: all 3 iterations run were skipped"):
        train_run(cfg)
    assert largest_saved_weight(Path(cfg.paths.output_dir)) == {}, "a network that learnt nothing was saved"


def wrecked_export(tmp_path: Path, scale: float = 1e10) -> Path:
    """The tiny generator with every floating-point weight times `scale` (finite), in the export layout."""
    net = generator_from_config(tiny_net_g_config())
    state = {name: t * scale if t.is_floating_point() else t for name, t in net.state_dict().items()}
    path = tmp_path / "net_g_latest.pth"
    torch.save({"params_ema": state, "net_g_config": net.config}, path)
    return path


def test_restore_and_evaluate_refuse_a_wrecked_network_naming_the_file(tmp_path: Path, compose, caplog) -> None:
    from facerevive.cli.restore import run as restore_run

    (tmp_path / "healthy").mkdir()
    build_network(str(wrecked_export(tmp_path / "healthy", scale=1.0)), device="cpu")  # passes the probe
    export = wrecked_export(tmp_path)
    started = time.perf_counter()
    with pytest.raises(BrokenNetworkError, match=rf"^{export}: the network"):
        build_network(str(export), device="cpu")
    print(f"wrecked 64 px export refused in {time.perf_counter() - started:.2f} s (shared machine)")

    photo = sorted((PROJECT_ROOT / "data" / "samples").glob("*.png"))[0]
    cfg = compose("restore.yaml", [f"input={photo}", f"output={tmp_path / 'out'}", f"weights={export}"])
    with pytest.raises(SystemExit) as exit_info:
        restore_run(cfg)
    assert exit_info.value.code == 2
    assert str(export) in caplog.text and "refusing it" in caplog.text
    assert not (tmp_path / "out").exists()

    spec = MethodSpec(f"ours:{export}", MethodKind.OURS, str(export))
    with pytest.raises(MethodUnavailableError, match=rf"not computed: {export}: the network"):
        open_method(spec, torch.device("cpu"), ["a"])


def test_the_probe_refuses_non_finite_and_flat_outputs() -> None:
    class Flat(torch.nn.Module):
        out_size = 8
        noise_map_shapes: list[tuple[int, ...]] = []  # no noise inputs, as an export with noise=fixed

        def __init__(self, value: float) -> None:
            super().__init__()
            self.value = torch.nn.Parameter(torch.tensor(value))

        def forward(self, x: torch.Tensor, **kwargs: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
            return x * 0 + self.value, []

    with pytest.raises(BrokenNetworkError, match=r"^f.pth: .* one flat colour \(value -1.000"):
        check_network_output(Flat(-5e9), "f.pth")
    with pytest.raises(BrokenNetworkError, match=r"^n.pth: .* NaN or Inf"):
        check_network_output(Flat(float("nan")), "n.pth")


def test_a_second_run_in_a_held_folder_is_refused_naming_the_folder_and_owner(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cfg = cfg_for(tmp_path, ["model.total_iter=1"], run_dir)
    with owned_folders([run_dir]) as owner:
        started = time.perf_counter()
        with pytest.raises(RunFolderBusyError) as refused:
            train_run(cfg)
        seconds = time.perf_counter() - started
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{run_dir.resolve()} belongs to another run")
    assert f"pid {owner.pid} on {owner.host}" in message
    assert not (run_dir / "config.yaml").exists(), "the refused run wrote into the folder"
    assert not (run_dir / LOCK_NAME).exists(), "the lock was not released"
    print(f"second run refused in {seconds * 1000:.0f} ms (shared machine)")


def test_a_stale_record_of_a_dead_process_is_taken_over(tmp_path: Path, caplog) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = Owner(pid=dead.pid, host=Owner.current().host, started="earlier")
    (tmp_path / LOCK_NAME).write_text(json.dumps(gone.__dict__))
    with caplog.at_level(logging.WARNING):
        lock = acquire(tmp_path, Owner.current())
    assert f"process {dead.pid} is gone" in caplog.text
    assert lock.read_text().count(str(os.getpid())) == 1
    other_host = Owner(pid=1, host="elsewhere", started="now")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / LOCK_NAME).write_text(json.dumps(other_host.__dict__))
    with pytest.raises(RunFolderBusyError, match="pid 1 on elsewhere"):
        acquire(tmp_path / "other", Owner.current())


def test_two_processes_in_one_folder_the_second_is_refused_then_a_resume_works(tmp_path: Path) -> None:
    """Two train.py with the same hydra.run.dir once both reported success, overwriting each other's files."""
    run_dir, mark = tmp_path / "run", tmp_path / "iteration"
    first = start_script(
        tmp_path,
        run_dir,
        [
            "model.total_iter=100000",
            "callbacks.iteration_checkpoint.every_n_iter=100000",
            f"+callbacks.mark={{_target_: test_train_faults.MarkIteration, path: '{mark}'}}",
        ],
    )
    wait_for(mark, first, min_value=1)
    started = time.monotonic()
    second = start_script(tmp_path, run_dir, ["model.total_iter=3"])
    output = second.communicate(timeout=300)[0].decode()
    seconds = time.monotonic() - started
    first.send_signal(signal.SIGTERM)
    first_output = first.communicate(timeout=120)[0].decode()
    assert second.returncode == 1, output[-3000:]
    last_line = output.strip().splitlines()[-1]
    assert last_line.startswith(f"error: {run_dir.resolve()} belongs to another run (pid {first.pid} on ")
    assert "Traceback" not in output
    assert first.returncode == 143 and "stopped by a signal at iteration" in first_output, first_output[-3000:]
    assert not (run_dir / LOCK_NAME).exists() and not (run_dir / "checkpoints" / LOCK_NAME).exists()
    reached = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["iteration"]
    _, objects = train_run(cfg_for(tmp_path, [f"model.total_iter={reached + 1}"], run_dir))  # the same folder
    assert objects["model"].iteration == reached + 1
    print(f"second process refused {seconds:.1f} s after its start (interpreter and imports included; shared machine)")


class FillDisk(L.Callback):
    """From iteration `at` on, torch.save writes part of a file and then fails as torch's zip writer does on a
    full disk, and the checkpoint folder reports 0 bytes free."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if pl_module.iteration + 1 != self.at:
            return
        from test_durable_writes import fill_then_fail, torch_full_disk_error

        import facerevive.utils.files as files

        torch.save = fill_then_fail(torch_full_disk_error())
        files.shutil.disk_usage = lambda path: type("Usage", (), {"free": 0})()


def test_a_full_disk_mid_run_is_one_line_and_a_failure(tmp_path: Path) -> None:
    """Disk full during a checkpoint write once ended in a 24-frame zip-writer traceback never saying so."""
    run_dir = tmp_path / "run"
    process = start_script(
        tmp_path,
        run_dir,
        [
            NO_GRIDS,
            "model.total_iter=3",
            "callbacks.iteration_checkpoint.every_n_iter=1",
            "+callbacks.fill={_target_: test_train_guards.FillDisk, at: 2}",
        ],
    )
    output = process.communicate(timeout=600)[0].decode()
    assert process.returncode == 1, output[-3000:]
    checkpoints = run_dir / "checkpoints"
    assert output.strip().splitlines()[-1].startswith(f"error: no space left on the device of {checkpoints} while")
    assert "(0.0 MiB free there" in output and "Traceback" not in output
    assert not list(run_dir.rglob("*.tmp")) and not list(run_dir.rglob(".*.tmp"))
    assert (checkpoints / "iter_00000001.ckpt").is_file()
