"""The training benchmark harness runs end to end at a tiny size and prints every section (timings not checked)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.benchmarks import run_benchmark

pytestmark = pytest.mark.bench

# One thread: on a shared CPU, two threads per process slow small ops down far more than they help.
TINY = ["--size", "64", "--narrow", "0.25", "--style-feat", "64", "--rounds", "1", "--threads", "1"]


@pytest.mark.slow
def test_bench_train_tiny_prints_both_sides_profile_and_utilisation(tmp_path: Path) -> None:
    out, figures = run_benchmark("bench_train.py", [*TINY, "--profile"], tmp_path, timeout=600)
    assert "| | official | FaceRevive | ratio |" in out
    assert "**amortised s/iteration**" in out and "x** |" in out
    assert "peak memory MiB" in out
    assert "## Profile of one FaceRevive iteration" in out and "G StyleGAN2 decoder" in out and "R1 (" in out
    assert "## Utilisation (FaceRevive)" in out and "/ fp32 matmul peak" in out
    assert " 0 FLOP " not in out

    assert figures["ratio"] > 0
    assert all(figures["times_s"][side]["r1"] and figures["times_s"][side]["plain"] for side in figures["times_s"])
    assert (
        figures["iteration_flops"]["plain"] > 0
        and figures["iteration_flops"]["r1"] > figures["iteration_flops"]["plain"]
    )
    assert figures["forward"]["flops"] > 0
    profile = figures["profile"]
    for component in ("D global", "D mouth", "VGG perceptual + style", "ArcFace identity", "EMA"):
        assert profile[component]["plain_ms"] > 0, component
    assert profile["R1 (D forward, penalty, double backward)"]["r1_ms"] > 0
    assert profile["R1 (D forward, penalty, double backward)"]["plain_ms"] == 0
