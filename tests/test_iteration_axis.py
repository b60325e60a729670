"""Every logger plots against the GFPGAN iteration: W&B logs the step as `iteration` (its x-axis, images included,
no `trainer/global_step`), and the optional LR monitor (`callbacks=[...,lr_monitor]`) logs each iteration's
learning rates at that iteration, the step of the `train/` scalars, for GFPGANModule and StyleGAN2Module."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import wandb
from test_prior_train import TINY as TINY_PRIOR
from test_train import compose_cfg

from facerevive.cli.train import run as train_run
from facerevive.utils.loggers import ITERATION_AXIS, WandbLogger

pytestmark = pytest.mark.e2e


class RunRecorder:
    """What a W&B run was asked to log and define (`wandb.init` wrapped: the real run, its `log` and
    `define_metric` recorded)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows: list[dict[str, Any]] = []
        self.definitions: list[tuple[str, str | None]] = []
        init = wandb.init
        monkeypatch.setenv("WANDB_MODE", "disabled")

        def recording_init(*args: Any, **kwargs: Any) -> Any:
            run = init(*args, **kwargs)
            run.log = lambda data, *_, **__: self.rows.append(dict(data))
            run.define_metric = lambda name, step_metric=None, **_: self.definitions.append((name, step_metric))
            return run

        monkeypatch.setattr(wandb, "init", recording_init)

    def step_metric(self, name: str) -> str | None:
        """The step metric of the last definition of `name` (a later one replaces what an earlier one set)."""
        return [step for defined, step in self.definitions if defined == name][-1]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch):
    recorder = RunRecorder(monkeypatch)
    yield recorder
    wandb.finish()
    # W&B keeps one process-wide session with the environment it started under (WANDB_MODE=disabled here): end it,
    # so that later tests' W&B settings (offline runs in their own directories) take effect.
    wandb.teardown()


def test_wandb_logs_the_step_as_iteration_and_plots_against_it(recorder: RunRecorder, tmp_path: Path) -> None:
    logger = WandbLogger(save_dir=str(tmp_path), project="facerevive")
    logger.log_metrics({"train/l_g_pix": 0.5}, step=7)
    logger.log_image(key="images/restoration", images=[np.zeros((8, 8, 3), np.uint8)], step=7, caption=["grid"])
    logger.log_metrics({"eval/table_rows": 3.0})  # no step (evaluation's report): no axis value either
    assert recorder.step_metric("*") == ITERATION_AXIS == "iteration"
    assert (ITERATION_AXIS, None) in recorder.definitions
    metrics, image, unstepped = recorder.rows
    assert metrics == {"train/l_g_pix": 0.5, "iteration": 7}
    assert image["iteration"] == 7 and isinstance(image["images/restoration"][0], wandb.Image)
    assert unstepped == {"eval/table_rows": 3.0}
    assert not [row for row in recorder.rows if "trainer/global_step" in row]


def test_wandb_prefix_leaves_the_axis_name_alone(recorder: RunRecorder, tmp_path: Path) -> None:
    logger = WandbLogger(save_dir=str(tmp_path), project="facerevive", prefix="stage2")
    logger.log_metrics({"train/l_d": 1.0}, step=3)
    assert recorder.rows == [{"stage2-train/l_d": 1.0, "iteration": 3}]


def csv_rows(cfg) -> list[dict[str, str]]:
    """The CSV logger's rows (empty cells dropped)."""
    (metrics,) = Path(cfg.paths.output_dir).glob("csv/version_*/metrics.csv")
    return [{key: value for key, value in row.items() if value} for row in csv.DictReader(metrics.open())]


def check_lr_rows_line_up(cfg, recorder: RunRecorder, lr: float, gamma: float) -> None:
    """Two iterations with the LR milestone at 1: iteration 1 trains at `lr`, iteration 2 at `lr * gamma`
    (schedulers step after each iteration, as BasicSR's before the next). In CSV and W&B, the LR monitor's
    rows sit at the iterations of the train/ scalars and carry those rates."""
    rows = csv_rows(cfg)
    scalar_steps = [int(row["step"]) for row in rows if "train/iteration" in row]
    assert scalar_steps == [int(float(row["train/iteration"])) for row in rows if "train/iteration" in row]
    lr_rows = [row for row in rows if any(key.startswith("lr-") for key in row)]
    assert [int(row["step"]) for row in lr_rows] == scalar_steps == [1, 2]
    for row, expected in zip(lr_rows, [lr, lr * gamma], strict=True):
        rates = [float(value) for key, value in row.items() if key.startswith("lr-")]
        assert rates and rates == pytest.approx([expected] * len(rates), rel=1e-6), row
    # The module's own lr/g: the rate each iteration trained at, the monitor's figure at the same step.
    own = [(int(row["step"]), float(row["lr/g"])) for row in rows if "lr/g" in row]
    assert own == [(1, pytest.approx(lr, rel=1e-6)), (2, pytest.approx(lr * gamma, rel=1e-6))]

    assert recorder.step_metric("*") == ITERATION_AXIS
    assert not [row for row in recorder.rows if "trainer/global_step" in row]
    stepped = [row for row in recorder.rows if "train/iteration" in row]
    assert [row[ITERATION_AXIS] for row in stepped] == [row["train/iteration"] for row in stepped] == [1, 2]
    monitored = [row for row in recorder.rows if any(key.startswith("lr-") for key in row)]
    assert [row[ITERATION_AXIS] for row in monitored] == [1, 2]


def test_lr_monitor_logs_at_the_gfpgan_iteration(recorder: RunRecorder, tmp_path: Path) -> None:
    """GFPGANModule (the quickstart, five optimisers; no perceptual loss, batch 1, for speed)."""
    overrides = ["logger=[csv,wandb]", "callbacks=[lr_monitor]", "model.total_iter=2", "trainer.log_every_n_steps=1"]
    overrides += ["model.scheduler.milestones=[1]", "model.perceptual=null", "data.batch_size=1"]
    cfg = compose_cfg(tmp_path, overrides)
    train_run(cfg)
    check_lr_rows_line_up(cfg, recorder, cfg.model.optimizer_g.lr, cfg.model.scheduler.gamma)
    assert {key for row in csv_rows(cfg) for key in row if key.startswith("lr-")} == {
        "lr-Adam",
        *(f"lr-Adam-{k}" for k in range(1, 5)),
    }


def test_lr_monitor_logs_at_the_prior_iteration(recorder: RunRecorder, tmp_path: Path) -> None:
    """StyleGAN2Module (the tiny prior, two optimisers)."""
    overrides = ["experiment=prior_quickstart", *TINY_PRIOR, "logger=[csv,wandb]", "callbacks=[lr_monitor]"]
    overrides += ["model.total_iter=2", "trainer.log_every_n_steps=1", "model.scheduler.milestones=[1]"]
    cfg = compose_cfg(tmp_path, overrides)
    train_run(cfg)
    rows = csv_rows(cfg)
    assert {key for row in rows for key in row if key.startswith("lr-")} == {"lr-Adam", "lr-Adam-1"}
    check_lr_rows_line_up(cfg, recorder, cfg.model.optimizer_g.lr, cfg.model.scheduler.gamma)
