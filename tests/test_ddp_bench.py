"""benchmarks/bench_ddp.py runs end to end at a tiny size: both strategies timed on two CPU ranks, the side-by-side
table printed and the weights compared (timings not checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_ddp.py"
# Two iterations (one timed) without the perceptual and identity networks: the DDP machinery, not the losses.
TINY = [
    "--iters",
    "2",
    "--warmup",
    "1",
    "--rounds",
    "1",
    "--set",
    "model.perceptual=null",
    "--set",
    "model.net_identity=null",
]


@pytest.mark.slow
def test_bench_ddp_tiny_prints_both_strategies_and_their_ratio(tmp_path: Path) -> None:
    figures_path = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), *TINY, "--json", str(figures_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "| | find_unused_parameters=True | UsedGradientsDDPStrategy | ratio |" in out
    assert "**mean s/iteration (R1 included)**" in out and "x** |" in out
    assert "identical weights after each round: yes" in out
    figures = json.loads(figures_path.read_text())
    assert figures["world_size"] == 2 and figures["identical_weights"] is True
    assert [len(v) for v in figures["times_s"].values()] == [1, 1]
    assert figures["ratio"] > 0
