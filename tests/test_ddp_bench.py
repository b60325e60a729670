"""benchmarks/bench_ddp.py runs end to end at a tiny size: both strategies timed on two CPU ranks, the side-by-side
table printed and the weights compared (timings not checked)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.benchmarks import run_benchmark

pytestmark = pytest.mark.bench

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
    out, figures = run_benchmark("bench_ddp.py", TINY, tmp_path, timeout=300)
    assert "| | find_unused_parameters=True | UsedGradientsDDPStrategy | ratio |" in out
    assert "**mean s/iteration (R1 included)**" in out and "x** |" in out
    assert "identical weights after each round: yes" in out
    assert figures["world_size"] == 2 and figures["identical_weights"] is True
    assert [len(v) for v in figures["times_s"].values()] == [1, 1]
    assert figures["ratio"] > 0
