"""One preflight pass lists every problem of a training run at once, each with its fix, before anything is built
and before Hydra makes the run folder: exit status 2, no traceback, nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.configs import compose_config

from facerevive.paths import PROJECT_ROOT
from facerevive.training.preflight import logger_problems, training_problems
from facerevive.utils.setting_ranges import Range, range_problems

pytestmark = pytest.mark.e2e

FINETUNE = ["experiment=gfpgan_v1.4_finetune", "data.root=data/ffhq/ffhq_512"]


def train_py(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """`python train.py <args>` as a new user runs it: no W&B mode or key, no GPU, an empty home and weights folder."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    environment.update(HOME=str(tmp_path / "home"), CUDA_VISIBLE_DEVICES="", **env)
    command = [sys.executable, str(PROJECT_ROOT / "train.py"), *args, f"paths.log_dir={tmp_path}/experiments"]
    command.append(f"paths.pretrained_dir={tmp_path}/weights")
    return subprocess.run(command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=300)


def test_finetune_without_data_or_weights_stops_once_listing_every_problem(tmp_path: Path) -> None:
    result = train_py(FINETUNE, tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "train: 13 problems; nothing was built and no run folder was made:", result.stderr
    problems = "\n".join(lines[1:])
    expected = [
        "trainer.accelerator=gpu: no CUDA GPU is available here; train on the CPU with trainer=cpu",
        "logger.wandb: W&B online needs an API key",
        "logger=wandb_offline (or WANDB_MODE=offline)",
        f"model.init.net_g=gfpgan_v1.4: {tmp_path}/weights/GFPGANv1.4.pth is missing; run "
        "`make weights ARGS=gfpgan_v1.4`",
        "model.init.net_d=gfpgan_v1_net_d:",
        "model/init=d_scratch",
        "model.init.net_identity=",
        "run `make weights ARGS=arcface`",
        "model.init.perceptual=",
        "data.component_path=",
        "data.root=data/ffhq/ffhq_512: no such folder or file",
        "data.val.lq_root=",
        "data.val.gt_root=",
        "data.val=null",
    ]
    for text in expected:
        assert text in problems, text
    assert not (tmp_path / "experiments").exists(), "a run folder was made"


def test_bad_settings_are_one_line_each_not_tracebacks(tmp_path: Path) -> None:
    result = train_py(["model.optimizer_g.lr=-1", "data.num_workers=-1", "seed=abc", "threads=0"], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[1:] == [
        "  - seed=abc: allowed values are integers or null",
        "  - threads=0: allowed values are integers >= 1 or null",
        "  - model.optimizer_g.lr=-1: allowed values are numbers > 0",
        "  - data.num_workers=-1: allowed values are integers >= 0 or null",
    ]
    assert not (tmp_path / "experiments").exists()


def test_the_quickstart_has_no_problem(tmp_path: Path) -> None:
    cfg = compose_config("train.yaml", [], tmp_path)
    assert training_problems(cfg) == []


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("model.total_iter=0", "model.total_iter=0: allowed values are integers >= 1"),
        ("model.optimizer_d.lr=0", "model.optimizer_d.lr=0: allowed values are numbers > 0"),
        ("model.ema_decay=1.0", "model.ema_decay=1.0: allowed values are numbers within [0, 1)"),
        (
            "callbacks.image_grid.every_n_iter=0",
            "callbacks.image_grid.every_n_iter=0: allowed values are integers >= 1",
        ),
        ("trainer.log_every_n_steps=-5", "trainer.log_every_n_steps=-5: allowed values are integers >= 1"),
        ("model.loss_weights.gan=-0.1", "model.loss_weights.gan=-0.1: allowed values are numbers >= 0"),
        ("data.batch_size=true", "data.batch_size=True: allowed values are integers >= 1"),
        ("model.net_g.out_size=96", "model.net_g.out_size=96: allowed values are powers of two >= 8"),
    ],
)
def test_setting_ranges(tmp_path: Path, override: str, line: str) -> None:
    cfg = compose_config("train.yaml", [override], tmp_path)
    assert line in range_problems(cfg)


def test_range_descriptions() -> None:
    assert Range(minimum=0, nullable=True).describe() == "integers >= 0 or null"
    assert not Range(minimum=1).allows(2.0) and Range(integer=False, minimum=0, above=True).allows(3)
    assert not Range(integer=False).allows(float("nan"))


def test_wandb_online_needs_a_key_or_a_local_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = compose_config("train.yaml", ["logger=wandb"], tmp_path)
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert len(logger_problems(cfg)) == 1
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password 0123456789abcdef\n")
    assert logger_problems(cfg) == []  # `wandb login` wrote the key
    (tmp_path / "netrc").unlink()
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert logger_problems(cfg) == []
    offline = compose_config("train.yaml", ["logger=wandb_offline"], tmp_path)
    monkeypatch.delenv("WANDB_MODE")
    assert logger_problems(offline) == []
