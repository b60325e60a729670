"""Hydra multiruns: an Optuna search over the quickstart (hparams_search) runs trials and reports a best value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"


@pytest.mark.slow
def test_optuna_search_runs_trials_and_records_the_best(tmp_path: Path) -> None:
    val_set = f"{{_target_:facerevive.data.PairedImageDataset,lq_root:{SAMPLES},gt_root:{SAMPLES},size:64}}"
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "hparams_search=gfpgan_optuna",
        "hydra.sweeper.n_trials=2",
        "hydra/launcher=basic",
        f"paths.log_dir={tmp_path}",
        "logger=csv",
        "callbacks=none",
        "model.total_iter=2",
        "trainer.limit_val_batches=1",
        "++trainer.val_check_interval=2",
        "++trainer.num_sanity_val_steps=0",
        "trainer.enable_progress_bar=false",
        "extras.print_config=false",
        f"++data.val={val_set}",
    ]
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    results = list(tmp_path.rglob("optimization_results.yaml"))
    assert len(results) == 1, result.stdout[-2000:]
    summary = yaml.safe_load(results[0].read_text())
    assert summary["name"] == "optuna"
    searched = {"model.loss_weights.pixel", "model.perceptual.style_weight", "model.loss_weights.identity"}
    assert set(summary["best_params"]) == searched
    assert isinstance(summary["best_value"], float)
    assert len([p for p in results[0].parent.iterdir() if p.is_dir() and p.name.isdigit()]) == 2
