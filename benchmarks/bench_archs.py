"""Network speed, FaceRevive vs the official classes, side by side on the same weights and inputs.

    python benchmarks/bench_archs.py [--device cuda] [--batch 1] [--repeats 3]

Prints milliseconds per batch for inference (GFPGANv1, GFPGANv1Clean at their release configurations) and
for a training forward+backward of the paper model, and the official/FaceRevive time ratio (>1: we are faster).
The official code runs through tests/helpers/reference.py (its compiled ops are replaced by their native
PyTorch versions, which is what it runs on a CPU anyway).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.reference import import_reference

import facerevive.archs as ours

RELEASE = {"out_size": 512, "num_style_feat": 512, "input_is_latent": True, "different_w": True, "sft_half": True}
CASES = {
    "GFPGANv1 (cm 1)": ("gfpgan.archs.gfpganv1_arch", "GFPGANv1", {**RELEASE, "channel_multiplier": 1}),
    "GFPGANv1Clean (cm 2, v1.4)": (
        "gfpgan.archs.gfpganv1_clean_arch",
        "GFPGANv1Clean",
        {**RELEASE, "channel_multiplier": 2, "fix_decoder": False},
    ),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_call(fn, device: torch.device, repeats: int) -> float:
    """Median wall time of `fn()` in milliseconds, after one warm-up call."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    x = torch.rand(args.batch, 3, 512, 512, device=device) * 2 - 1
    print(f"device={device} batch={args.batch} torch={torch.__version__} threads={torch.get_num_threads()}")
    print(f"{'network':32s} {'mode':10s} {'official ms':>12s} {'FaceRevive ms':>14s} {'ratio':>7s}")
    for label, (module, name, kwargs) in CASES.items():
        official = getattr(import_reference(module), name)(**kwargs).to(device)
        mine = getattr(ours, name)(**kwargs).to(device)
        mine.load_state_dict(official.state_dict())
        modes = {"inference": _infer}
        if name == "GFPGANv1":
            modes["train f+b"] = _train_step
        for mode, run in modes.items():
            t_official = time_call(partial(run, official, x), device, args.repeats)
            t_mine = time_call(partial(run, mine, x), device, args.repeats)
            print(f"{label:32s} {mode:10s} {t_official:12.1f} {t_mine:14.1f} {t_official / t_mine:6.2f}x")


def _infer(net: torch.nn.Module, x: torch.Tensor) -> None:
    net.eval()
    with torch.inference_mode():
        net(x, return_rgb=False, randomize_noise=False)


def _train_step(net: torch.nn.Module, x: torch.Tensor) -> None:
    net.train()
    net.zero_grad(set_to_none=True)
    image, rgbs = net(x, return_rgb=True)
    (image.abs().mean() + sum(r.abs().mean() for r in rgbs)).backward()


if __name__ == "__main__":
    main()
