"""What a training run shows and leaves for its user: the iteration progress line, a quiet console without colour
codes off a terminal, loggers stepped by the GFPGAN iteration, labelled fixed-face grids, checkpoints without the
frozen loss networks (old ones with them still load) and files with normal permissions.

One real `python train.py` run (2 iterations of the quickstart, every logger) is shared by the console, logger,
grid and checkpoint checks; the rest are unit tests."""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers.configs import compose_config
from hydra.utils import instantiate
from PIL import Image

from facerevive.callbacks.image_grid import LABEL_HEIGHT, PADDING
from facerevive.callbacks.progress import IterationProgressBar, format_duration, progress_text
from facerevive.cli.train import CONFIG_FILE, apply_extras, random_init_level, silence_harmless_output
from facerevive.paths import PROJECT_ROOT
from facerevive.training.preflight import log_random_inits
from facerevive.utils.files import atomic_torch_save, atomic_write_text

pytestmark = pytest.mark.e2e

# Messages the console must no longer show (issue: harmless warnings and notes).
SILENCED = [
    "LeafSpec",
    "in eval mode",
    "logging interval",
    "anonymous setting",
    "randomly initialised",
    "RANDOMLY INITIALISED",
    "identity_load_path",
    "weights_only",
    "FLOPs",
    "Epoch 0/",
    "Seed set to",
    "litlogger",
]
ANSI = re.compile(r"\x1b\[")
LOSS_NETWORK_PREFIXES = ("perceptual.", "net_identity.")


def umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """`python train.py` (the quickstart) for 2 iterations with W&B offline, CSV and TensorBoard; a grid and a
    checkpoint after each iteration. Output captured (not a terminal), as in CI logs or `make train > log`."""
    logs = tmp_path_factory.mktemp("feedback")
    env = {**os.environ, "WANDB_MODE": "offline", "PROJECT_ROOT": str(PROJECT_ROOT)}
    env.pop("NO_COLOR", None)
    command = [
        sys.executable,
        str(PROJECT_ROOT / "train.py"),
        "model.total_iter=2",
        "logger=many_loggers",
        "trainer.log_every_n_steps=1",
        "callbacks.image_grid.every_n_iter=1",
        "callbacks.iteration_checkpoint.every_n_iter=1",
        f"paths.log_dir={logs}",
    ]
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    (run_dir,) = (logs / "quickstart" / "runs").iterdir()
    return result, run_dir


def test_console_shows_iteration_progress_and_nothing_harmless(quickstart_run) -> None:
    result, run_dir = quickstart_run
    out, err = result.stdout, result.stderr
    lines = [line for line in out.splitlines() if line.startswith("iter ")]
    assert [line.split(" |")[0].split()[:2] for line in lines] == [["iter", "1/2"], ["iter", "2/2"]], out
    for line in lines:
        assert re.search(r"[\d.]+ it/s", line) and "ETA " in line and "l_g_pix " in line and "l_d " in line, line
    assert "ETA 0:00" in lines[-1]
    for message in SILENCED:
        assert message not in out + err, message
    assert not ANSI.search(out + err), "colour codes in captured output"
    # The resolved config goes to the run directory, not to the screen.
    assert "_target_" not in out and "degradation" not in out
    assert "_target_: facerevive.models.GFPGANModule" in (run_dir / CONFIG_FILE).read_text()
    # What is left: one preflight line, the network table, progress, the checkpoint notes, the summary.
    random = "random initialisation (no pretrained file): model.init.decoder, model.init.perceptual"
    assert f"[INFO] - {random}" in out  # the quickstart's random start is on purpose: a note, not a warning
    assert "trainable params" in out and "net_g_ema" in out


def test_loggers_step_by_iteration_and_grids_line_up(quickstart_run) -> None:
    _, run_dir = quickstart_run
    (metrics,) = (run_dir / "csv").glob("version_*/metrics.csv")
    rows = [row for row in csv.DictReader(metrics.open()) if row.get("train/l_d")]
    assert [int(row["step"]) for row in rows] == [1, 2]
    assert [float(row["train/iteration"]) for row in rows] == [1.0, 2.0]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = (run_dir / "tensorboard").rglob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(events), size_guidance={"images": 0, "scalars": 0})
    accumulator.Reload()
    assert [event.step for event in accumulator.Scalars("train/l_d")] == [1, 2]
    assert [event.step for event in accumulator.Images("images/restoration")] == [1, 2]


def test_grids_are_labelled_fixed_faces_at_128_px(quickstart_run) -> None:
    _, run_dir = quickstart_run
    images = run_dir / "images"
    first = torch.from_numpy(np.array(Image.open(images / "restoration_00000001.png"))).int()
    second = torch.from_numpy(np.array(Image.open(images / "restoration_00000002.png"))).int()
    tile, faces, columns = 128, 4, 3  # the quickstart's 64 px faces shown at 128 px; LQ | restored | GT
    assert first.shape == (LABEL_HEIGHT + PADDING + faces * (tile + PADDING), PADDING + columns * (tile + PADDING), 3)
    header, body = first[:LABEL_HEIGHT], first[LABEL_HEIGHT:]
    assert (header < 128).any(), "no label text drawn"

    def column(grid: torch.Tensor, index: int) -> torch.Tensor:
        left = PADDING + index * (tile + PADDING)
        return grid[LABEL_HEIGHT:, left : left + tile]

    # The same faces with the same degradations at both iterations; only the restorations change.
    assert torch.equal(column(first, 0), column(second, 0)) and torch.equal(column(first, 2), column(second, 2))
    assert not torch.equal(column(first, 1), column(second, 1))
    pyramid = Image.open(images / "pyramid_00000002.png")
    assert pyramid.size[0] == PADDING + 4 * (tile + PADDING)  # 8, 16, 32, 64 px levels
    assert body.float().std() > 0


def test_checkpoints_leave_out_loss_networks_and_files_have_normal_modes(quickstart_run) -> None:
    _, run_dir = quickstart_run
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    keys = list(checkpoint["state_dict"])
    assert any(key.startswith("net_g_ema.") for key in keys)
    assert not [key for key in keys if key.startswith(LOSS_NETWORK_PREFIXES)]
    expected = 0o666 & ~umask()
    for path in [
        run_dir / CONFIG_FILE,
        run_dir / "checkpoints" / "last.ckpt",
        run_dir / "checkpoints" / "iter_00000002.ckpt",
        run_dir / "checkpoints" / "net_g_latest.pth",
        run_dir / "images" / "restoration_00000002.png",
    ]:
        assert stat.S_IMODE(path.stat().st_mode) == expected, (path, oct(path.stat().st_mode))


def test_checkpoints_with_and_without_loss_networks_load_strictly(tmp_path: Path) -> None:
    """A new checkpoint (no VGG keys) and an old one (with them) both pass Lightning's strict load after
    `on_load_checkpoint`; the loss networks keep the weights the config built, and a saved one drops them again."""
    cfg = compose_config("train.yaml", [], tmp_path)
    model = instantiate(cfg.model)
    model.iteration = 7
    saved = {"state_dict": model.state_dict(), "iteration": 7}
    model.on_save_checkpoint(saved)
    assert not [key for key in saved["state_dict"] if key.startswith(LOSS_NETWORK_PREFIXES)]
    old = {"state_dict": model.state_dict(), "iteration": 7}
    assert any(key.startswith("perceptual.") for key in old["state_dict"])

    def load(fresh, checkpoint: dict) -> None:
        """`checkpoint` into `fresh` as Lightning loads it (the module's hook, then a strict load)."""
        fresh.iteration = 0
        fresh.on_load_checkpoint(checkpoint)
        fresh.load_state_dict(checkpoint["state_dict"], strict=True)
        assert fresh.iteration == 7
        for key, value in model.net_g.state_dict().items():
            assert torch.equal(fresh.net_g.state_dict()[key], value), key

    fresh = instantiate(cfg.model)
    built = {k: v.clone() for k, v in fresh.perceptual.state_dict().items()}
    load(fresh, saved)  # the loss network keeps what the config built
    assert all(torch.equal(fresh.perceptual.state_dict()[k], v) for k, v in built.items())
    load(fresh, old)  # an old checkpoint's copy loads as before
    assert all(torch.equal(fresh.perceptual.state_dict()[k], v) for k, v in model.perceptual.state_dict().items())
    assert not all(torch.equal(fresh.perceptual.state_dict()[k], v) for k, v in built.items())


def test_atomic_writes_get_the_umask_mode(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        text = atomic_write_text(tmp_path / "report.txt", "x")
        tensor = atomic_torch_save({"a": torch.zeros(1)}, tmp_path / "export.pth")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(text.stat().st_mode) == stat.S_IMODE(tensor.stat().st_mode) == 0o640
    assert not list(tmp_path.glob(".*.tmp"))


class FakeModule(SimpleNamespace):
    """What the progress bar reads of an IterationModule (GFPGANModule and StyleGAN2Module alike)."""

    @property
    def training_finished(self) -> bool:
        return self.iteration >= self.total_iter


def drive(bar: IterationProgressBar, module: FakeModule, iterations: int) -> None:
    bar.on_train_start(None, module)  # type: ignore[arg-type]
    for _ in range(iterations):
        module.iteration += 1
        bar.on_train_batch_end(None, module, None, None, 0)  # type: ignore[arg-type]
    bar.on_train_end(None, module)  # type: ignore[arg-type]


@pytest.fixture
def as_iteration_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("facerevive.callbacks.progress.iteration_module", lambda module: module)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.usefixtures("as_iteration_module")
def test_progress_prints_plain_lines_off_a_terminal() -> None:
    """Resumed at 100 of 400 (StyleGAN2 loss names): lines at the first iteration, every 50 and the last."""
    stream = io.StringIO()
    module = FakeModule(iteration=100, total_iter=400, last_losses={"l_g": 0.5, "l_d": 1.25, "l_d_r1": 3.0})
    module.nonfinite = SimpleNamespace(skipped=0)
    drive(IterationProgressBar(print_every_n_iter=50, stream=stream), module, 300)
    lines = stream.getvalue().splitlines()
    assert [line.split(" |")[0] for line in lines] == [
        f"iter {n}/400 {n / 400:4.0%}" for n in (101, 150, 200, 250, 300, 350, 400)
    ]
    assert lines[-1].endswith("l_g 0.5  l_d 1.25") and "\r" not in stream.getvalue()


@pytest.mark.usefixtures("as_iteration_module")
def test_progress_off_a_terminal_comes_at_least_every_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow run (25 s per iteration, a line every 50 iterations) is never silent for more than a minute."""
    clock = iter(range(0, 10_000, 25))
    monkeypatch.setattr("facerevive.callbacks.progress.time.perf_counter", lambda: float(next(clock)))
    stream = io.StringIO()
    module = FakeModule(iteration=0, total_iter=12, last_losses={}, nonfinite=SimpleNamespace(skipped=0))
    drive(IterationProgressBar(print_every_n_iter=50, print_every_seconds=60, stream=stream), module, 12)
    printed = [int(line.split()[1].split("/")[0]) for line in stream.getvalue().splitlines()]
    assert printed == [1, 4, 7, 10, 12]  # 75 s apart (the first call after a minute), and the last


@pytest.mark.usefixtures("as_iteration_module")
def test_progress_redraws_one_line_on_a_terminal_without_colour_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    """One line redrawn with carriage returns; a log record to the same stream blanks it first; the last stays."""
    monkeypatch.setenv("COLUMNS", "200")  # the line is cut to the terminal's width
    stream = Terminal()
    module = FakeModule(iteration=0, total_iter=3, last_losses={"l_g_pix": 0.25}, nonfinite=SimpleNamespace(skipped=1))
    bar = IterationProgressBar(refresh_seconds=0, stream=stream)
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    try:
        bar.on_train_start(None, module)  # type: ignore[arg-type]
        for _ in range(3):
            module.iteration += 1
            bar.on_train_batch_end(None, module, None, None, 0)  # type: ignore[arg-type]
            if module.iteration == 2:
                logging.getLogger("facerevive.test").warning("a log record")
        bar.on_train_end(None, module)  # type: ignore[arg-type]
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    assert not ANSI.search(text) and text.count("\r") >= 3
    assert re.search(r"\r +\ra log record\n\riter 3/3", text), text
    assert text.endswith("\n") and "iter 3/3 100% ####################" in text and "1 non-finite skipped" in text
    assert handler.filters == []  # the line-clearing filter is removed at the end


def test_progress_text_and_durations() -> None:
    assert format_duration(59.6) == "1:00" and format_duration(3725) == "1:02:05"
    text = progress_text(100, 400, 2.0, 50.0, {"l_d": 0.5})
    assert text == "iter 100/400  25% | 2 it/s | 0:50 elapsed | ETA 2:30 | l_d 0.5"
    assert "-- it/s" in progress_text(1, 400, None, 3.0, {}) and "ETA --" in progress_text(1, 400, None, 3.0, {})


def test_prior_training_shows_the_same_progress(tmp_path: Path) -> None:
    cfg = compose_config("train.yaml", ["experiment=prior_quickstart"], tmp_path)
    bar = instantiate(cfg.callbacks.progress_bar)
    assert isinstance(bar, IterationProgressBar) and {"l_g", "l_d"} <= set(bar.losses)
    assert "model_summary" in cfg.callbacks


def test_identity_weights_are_not_mentioned_when_the_identity_loss_is_off(tmp_path: Path, caplog) -> None:
    off = compose_config("train.yaml", [], tmp_path)
    paper = ["experiment=gfpgan_v1", "model.init.net_identity=null"]
    on = compose_config("train.yaml", paper, tmp_path)
    with caplog.at_level("WARNING"):
        assert "model.init.net_identity" not in log_random_inits(off)
        assert "model.init.net_identity" in log_random_inits(on)
    assert len([r for r in caplog.records if "random initialisation" in r.getMessage()]) == 2


def test_print_config_flag_prints_the_resolved_config(tmp_path: Path, capsys) -> None:
    cfg = compose_config("train.yaml", ["extras.print_config=true"], tmp_path)
    apply_extras(cfg)
    printed = capsys.readouterr().out
    assert "_target_: facerevive.models.GFPGANModule" in printed and "${" not in printed


def test_lightning_skipping_validation_of_a_module_without_it_is_silenced() -> None:
    """The prior (no validation_step) on the shared DataModule: Lightning skips its val loop, as intended."""
    import warnings

    from lightning.pytorch.utilities import rank_zero_warn

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_harmless_output()
        rank_zero_warn("You passed in a `val_dataloader` but have no `validation_step`. Skipping val loop.")
        rank_zero_warn("an unrelated warning")
    assert [str(w.message) for w in caught] == ["an unrelated warning"]


def test_random_initialisation_is_a_warning_except_where_it_is_the_recipe(tmp_path: Path) -> None:
    quickstart = compose_config("train.yaml", [], tmp_path)
    paper = compose_config("train.yaml", ["experiment=gfpgan_v1"], tmp_path)
    assert (random_init_level(quickstart), random_init_level(paper)) == ("INFO", "WARNING")
