"""GFPGAN's DDP overhead: Lightning's DDP with find_unused_parameters=True vs UsedGradientsDDPStrategy, side by side.

    benchmarks/bench_ddp.py                                  # 2 CPU ranks (gloo), 64 px, narrow 0.25, batch 1
    benchmarks/bench_ddp.py --size 128 --iters 32 --rounds 3 --json bench_ddp.json

Two processes join one gloo group (as `trainer=ddp_sim` ranks do) and train the paper recipe (experiment=gfpgan_v1:
every loss, R1 every 16, random VGG/ArcFace/decoder) past the pyramid cut-off (weight 1e-12 from the first
iteration, the official trick against unused parameters) under each strategy in turn, from the same weights on the
same batches; the strategy that goes first alternates between rounds. find_unused_parameters=False and
static_graph=True are not candidates: both fail at the first D backward (see facerevive.models.ddp). Per strategy:
the median and mean (R1 iterations included) seconds per iteration after `--warmup` iterations of each run, and
the ratio (UsedGradients / find_unused: < 1 is faster); then whether both left identical weights. Benchmarks are
not tests: timings on a busy machine are noisy (state the load).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.ddp_runs import STRATEGIES, digests, fit, launch, rank_and_world_size, tiny_module  # noqa: E402

BASELINE, OURS = "find_unused", "used_gradients"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64, help="generator output size (px)")
    parser.add_argument("--narrow", type=float, default=0.25, help="channel width factor of G and D")
    parser.add_argument("--batch", type=int, default=1, help="batch size per rank")
    parser.add_argument("--iters", type=int, default=16, help="iterations per run (R1 every 16)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first iterations of each run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each strategy")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    parser.add_argument("--set", action="append", default=[], help="extra Hydra override of the model (repeatable)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.iters <= args.warmup:
        parser.error("--iters must exceed --warmup")
    return args


def worker(args: argparse.Namespace) -> None:
    """One rank: every round runs both strategies (alternating which goes first); rank 0 writes the figures."""
    torch.set_num_threads(args.threads)
    rank, world_size = rank_and_world_size()
    overrides = ["model.loss_weights.remove_pyramid_after=0", *args.set]
    times: dict[str, list[float]] = {name: [] for name in STRATEGIES}
    identical = True
    for round_index in range(args.rounds):
        order = list(STRATEGIES) if round_index % 2 == 0 else list(reversed(STRATEGIES))
        trained = {}
        for name in order:
            module = tiny_module(args.size, args.narrow, overrides)
            seconds = fit(name, module, args.size, args.batch, args.iters, rank, world_size)
            times[name].extend(seconds[args.warmup :])
            trained[name] = digests(module)
        identical = identical and trained[BASELINE] == trained[OURS]
    if rank == 0:
        figures = {"world_size": world_size, "times_s": times, "identical_weights": identical}
        args.worker.write_text(json.dumps(figures))


def report(args: argparse.Namespace, figures: dict[str, Any]) -> list[str]:
    """The markdown table of the figures."""
    times = figures["times_s"]
    median = {name: statistics.median(values) for name, values in times.items()}
    mean = {name: statistics.fmean(values) for name, values in times.items()}
    lines = [
        f"## GFPGAN DDP overhead: {figures['world_size']} CPU ranks (gloo), {args.size} px, narrow {args.narrow}, "
        f"batch {args.batch} per rank, {args.threads} thread(s) per rank, {args.rounds} round(s) of "
        f"{args.iters - args.warmup} timed iterations, pyramid weight past the cut-off",
        "",
        "| | find_unused_parameters=True | UsedGradientsDDPStrategy | ratio |",
        "|---|---|---|---|",
        f"| median s/iteration | {median[BASELINE]:.3f} | {median[OURS]:.3f} | "
        f"{median[OURS] / median[BASELINE]:.2f}x |",
        f"| **mean s/iteration (R1 included)** | {mean[BASELINE]:.3f} | {mean[OURS]:.3f} | "
        f"**{mean[OURS] / mean[BASELINE]:.2f}x** |",
        "",
        f"identical weights after each round: {'yes' if figures['identical_weights'] else 'NO'}",
    ]
    if hasattr(os, "getloadavg"):
        lines.append("load average at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if args.worker is not None:
        worker(args)
        return {}
    with tempfile.TemporaryDirectory(prefix="bench_ddp_") as tmp:
        out = Path(tmp) / "figures.json"
        passed = list(argv if argv is not None else sys.argv[1:])
        launch(Path(__file__).resolve(), [*passed, "--worker", str(out)], timeout=3600)
        figures = json.loads(out.read_text())
    mean = {name: statistics.fmean(values) for name, values in figures["times_s"].items()}
    figures["ratio"] = mean[OURS] / mean[BASELINE]
    print("\n".join(report(args, figures)))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
