"""The full train_gfpgan_v1 iteration, FaceRevive's GFPGANModule vs the official GFPGANModel, side by side.

    python benchmarks/bench_train.py                            # CPU-friendly: 256 px, narrow 0.5, batch 1
    python benchmarks/bench_train.py --size 512 --narrow 1      # the paper widths (batch 3 on a GPU)
    python benchmarks/bench_train.py --profile --json bench_train.json
    python benchmarks/bench_train.py --switch model.optimizer_g.fused=true --switch trainer.precision=bf16-mixed

Both sides run every loss of the paper recipe (pixel, pyramid, perceptual + style on a random VGG19, GAN,
component GAN + style with boxes, identity on a random ArcFace, R1 every 16), start from the same weights
(official -> ours) and see the same batches, in one process. FaceRevive's side is the shipped config
(train.yaml experiment=gfpgan_v1, plus --set overrides) stepped by a Lightning Trainer, as in training;
the official side is `feed_data` + `optimize_parameters` after its LR update, as basicsr's train loop runs it.
Each round times one plain and one R1 iteration of each side, the side that goes first alternating; the
medians give the per-iteration time amortised over R1 every `net_d_reg_every` iterations, which is ranked
(ratio = FaceRevive / official time; < 1: FaceRevive is faster). Beside the times: the peak memory of a plain
and of an R1 iteration above what was held before it, measured in an untimed pair of iterations. `--profile`
adds a per-component table of FaceRevive's iteration; the utilisation section gives FLOPs (torch.utils.flop_counter)
of the generator forward and of the iteration against a large matmul's measured peak. Each `--switch` (Hydra
overrides of FaceRevive's side: model.* or trainer.precision) reruns the whole comparison with it on, after the
run without; the summary gives each run's ratio and the switch's gain (ratio without / ratio with: the official
side, timed in both runs, cancels most of a busy machine's drift). Benchmarks are not tests: timings on a busy
machine are noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.configs import compose_config  # noqa: E402
from helpers.official_gfpgan import (  # noqa: E402
    build_official,
    copy_weights,
    make_batches,
    official_ops,
    official_opt,
    try_compiled_ops,
)
from hydra.utils import instantiate  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils.flop_counter import flop_registry  # noqa: E402
from train_profile import ComponentLabels, attribute, profile_table  # noqa: E402

from facerevive.restore.fastpath import has_bf16_units  # noqa: E402
from facerevive.utils.device import resolve_device  # noqa: E402

SIDES = ("official", "FaceRevive")
KINDS = ("plain", "r1")


# ------------------------------------------------------------------ measuring
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PeakMemory:
    """Context manager: the peak of tensor memory while entered, above what was allocated when it began.

    CUDA: max_memory_allocated after a peak reset. CPU: the profiler's allocation events (profile_memory), summed
    in time order; unlike the process RSS it does not depend on which side's freed memory the allocator kept.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak = 0
        self._base = 0
        self._profiler: Any = None

    @staticmethod
    def method(device: torch.device) -> str:
        if device.type == "cuda":
            return "CUDA max allocated above the memory allocated before the iteration"
        return "peak of CPU tensor memory above that held before the iteration (torch.profiler allocation events)"

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            sync(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            activities = [torch.profiler.ProfilerActivity.CPU]
            self._profiler = torch.profiler.profile(activities=activities, profile_memory=True)
            self._profiler.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            sync(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self._base
            return
        self._profiler.__exit__(*exc)
        changes = sorted(
            (event.start_ns(), event.nbytes())
            for event in self._profiler.profiler.kineto_results.events()
            if event.name() == "[memory]" and event.device_type() == torch.autograd.DeviceType.CPU
        )
        held = self.peak = 0
        for _, nbytes in changes:
            held += nbytes
            self.peak = max(self.peak, held)


class CountingFlops(TorchDispatchMode):
    """FLOPs of the ops that run, by torch.utils.flop_counter's formulas (matmul and convolution families,
    forward and backward), and the non-aten ops seen without a formula.

    FlopCounterMode's counting without its module tracker, whose hooks break autograd.grad on a leaf input (R1).
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0
        self.uncounted: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        packet = func._overloadpacket
        if packet not in flop_registry:
            # Composite ops (conv2d under inference mode) reach the mode whole: count their parts.
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
            if not packet._qualified_op_name.startswith(("aten::", "prim::", "profiler::")):
                self.uncounted.add(packet._qualified_op_name)
            return func(*args, **kwargs)
        out = func(*args, **kwargs)
        self.total += flop_registry[packet](*args, **kwargs, out_val=out)
        return out


def progress(message: str) -> None:
    """A progress line on stderr (the report goes to stdout)."""
    print(f"[bench_train {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def si(value: float, unit: str) -> str:
    """`value` with an SI prefix (never rounds a non-zero count to 0)."""
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def cpu_name() -> str:
    """The CPU model (Linux /proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, repeats: int = 3) -> float:
    """Measured FLOP/s of an n x n matmul (best of `repeats` after a warm-up)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


# ------------------------------------------------------------------ the run
@dataclass(frozen=True)
class Step:
    """One batch of the Trainer's epoch: our iteration number, what to do with it, and the official's part."""

    iteration: int
    kind: str  # plain | r1
    task: str  # warmup | measure (memory; FaceRevive's FLOPs) | timed | profile
    official: bool
    official_first: bool = False


def schedule(rounds: int, reg_every: int, profile: bool) -> list[Step]:
    """A pair (one plain, one R1 iteration) each of warm-up, then of memory and FLOP counting, `rounds` timed
    pairs, then (with `profile`) one pair of FaceRevive's under the profiler."""
    steps: list[Step] = []

    def add_pair(r: int, task: str, official: bool, official_first: bool = False) -> None:
        steps.append(Step(r * reg_every + 1, "plain", task, official, official_first))
        steps.append(Step((r + 1) * reg_every, "r1", task, official, official_first))

    add_pair(0, "warmup", official=True)
    add_pair(1, "measure", official=True)
    for r in range(2, rounds + 2):
        add_pair(r, "timed", official=True, official_first=r % 2 == 0)
    if profile:
        add_pair(rounds + 2, "profile", official=False)
    return steps


class Driver(L.Callback):
    """Runs the schedule inside the Trainer's epoch: times, profiles or counts our iteration around each
    training_step, and runs the official iteration on the same batch before or after it."""

    def __init__(self, steps: list[Step], official: Any, official_batches: list[dict], device: torch.device) -> None:
        self.steps = steps
        self.official = official
        self.official_batches = official_batches
        self.device = device
        self.times: dict[str, dict[str, list[float]]] = {s: {k: [] for k in KINDS} for s in SIDES}
        self.first: dict[str, float] = {}  # the very first iteration of each side (torch.compile compiles in it)
        self.peaks: dict[str, dict[str, int]] = {s: {} for s in SIDES}
        self.profiles: dict[str, dict[str, float]] = {}
        self.flops: dict[str, int] = {}
        self.uncounted: set[str] = set()
        self._context: list[Any] = []
        self._start = 0.0

    def _run_official(self, index: int) -> None:
        step = self.steps[index]
        memory = PeakMemory(self.device)
        with memory if step.task == "measure" else contextlib.nullcontext():
            sync(self.device)
            start = time.perf_counter()
            self.official.update_learning_rate(step.iteration, warmup_iter=-1)
            self.official.feed_data(self.official_batches[index])
            self.official.optimize_parameters(step.iteration)
            sync(self.device)
            elapsed = time.perf_counter() - start
        self.first.setdefault("official", elapsed)
        if step.task == "timed":
            self.times["official"][step.kind].append(elapsed)
        elif step.task == "measure":
            self.peaks["official"][step.kind] = memory.peak

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        step = self.steps[batch_idx]
        progress(f"iteration {step.iteration} ({step.kind}, {step.task})")
        pl_module.iteration = step.iteration - 1  # training_step counts it up to step.iteration
        if step.official and step.official_first:
            self._run_official(batch_idx)
        if step.task == "measure":
            self._context = [PeakMemory(self.device), CountingFlops()]
        elif step.task == "profile":
            activities = [torch.profiler.ProfilerActivity.CPU]
            if self.device.type == "cuda":
                activities.append(torch.profiler.ProfilerActivity.CUDA)
            self._context = [ComponentLabels(pl_module), torch.profiler.profile(activities=activities)]
        for context in self._context:
            context.__enter__()
        sync(self.device)
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        sync(self.device)
        elapsed = time.perf_counter() - self._start
        step = self.steps[batch_idx]
        for context in reversed(self._context):
            context.__exit__(None, None, None)
        self.first.setdefault("FaceRevive", elapsed)
        if step.task == "timed":
            self.times["FaceRevive"][step.kind].append(elapsed)
        elif step.task == "profile":
            profiler = self._context[1]
            events = profiler.events()
            self.profiles[step.kind] = attribute(events, elapsed * 1e6, device_time=self.device.type == "cuda")
        elif step.task == "measure":
            memory, counter = self._context
            self.peaks["FaceRevive"][step.kind] = memory.peak
            self.flops[step.kind] = counter.total
            self.uncounted |= counter.uncounted
        self._context = []
        if step.official and not step.official_first:
            self._run_official(batch_idx)


def our_module(args: argparse.Namespace, workdir: Path, switch: list[str]) -> tuple[Any, str]:
    """FaceRevive's GFPGANModule from the shipped config at the bench's size, random pretrained networks, and the
    Trainer precision its config asks for (`switch`: extra overrides)."""
    overrides = [
        "experiment=gfpgan_v1",
        f"model.net_g.out_size={args.size}",
        f"model.net_g.narrow={args.narrow}",
        f"model.net_g.num_style_feat={args.style_feat}",
        f"model.net_d.narrow={args.narrow}",
        "model.init.decoder=null",
        "model.init.net_identity=null",
        "model.init.perceptual=null",
        # null: the module scales the 80 / 120 px crops of 512 to this size.
        "model.eye_out_size=null",
        "model.mouth_out_size=null",
        *args.set,
        *switch,
    ]
    cfg = compose_config("train.yaml", overrides, workdir)
    return instantiate(cfg.model), str(cfg.trainer.precision)


def build_sides(
    args: argparse.Namespace, workdir: Path, device: torch.device, switch: list[str]
) -> tuple[Any, Any, str]:
    """Our module from the shipped config, its Trainer precision, and the official model with the same set-up and
    the same weights."""
    module, precision = our_module(args, workdir, switch)
    opt = official_opt(
        args.size,
        narrow=args.narrow,
        components=True,
        reg_every=module.net_d_reg_every,
        remove_pyramid=50000,
        num_style_feat=args.style_feat,
        num_gpu=1 if device.type == "cuda" else 0,
    )
    official = build_official(opt, workdir, crop_sizes=(module.eye_out_size, module.mouth_out_size))
    copy_weights(official, module)
    return module, official, precision


def run(args: argparse.Namespace, switch: list[str]) -> dict[str, Any]:
    """Build both sides (`switch`: extra overrides of ours), run the schedule, measure the generator forward and the
    matmul peak; the figures."""
    device = resolve_device(args.device)
    batch_size = args.batch or (3 if device.type == "cuda" else 1)
    ops_note = try_compiled_ops() if device.type == "cuda" else "CPU run: basicsr has no compiled CPU ops"
    torch.manual_seed(0)
    progress(f"building both sides on {device}")
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        module, official, precision = build_sides(args, Path(tmp), device, switch)
    reg_every = module.net_d_reg_every
    crop_sizes = (module.eye_out_size, module.mouth_out_size)
    ops = official_ops()
    steps = schedule(args.rounds, reg_every, args.profile)
    batches = make_batches(args.size, batch_size, len(steps))
    official_batches = [{k: v.to(device) for k, v in copy.deepcopy(b).items()} for b in batches]
    driver = Driver(steps, official, official_batches, device)
    trainer = L.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        max_epochs=1,
        precision=precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[driver],
    )
    loader = torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False)
    trainer.fit(module, train_dataloaders=loader)

    progress("generator forward and matmul peak")
    # The restoration-shaped generator forward: the EMA generator, inference mode, fixed noise.
    net = module.net_g_ema.to(device).eval()
    lq = official_batches[0]["lq"]

    def forward() -> None:
        with torch.inference_mode():
            net(lq, return_rgb=False, randomize_noise=False)

    forward()
    forward_times = []
    for _ in range(max(args.rounds, 2)):
        sync(device)
        start = time.perf_counter()
        forward()
        sync(device)
        forward_times.append(time.perf_counter() - start)
    counter = CountingFlops()
    with counter:
        forward()
    forward_flops = counter.total

    n = 8192 if device.type == "cuda" else 2048
    peaks = {"fp32": matmul_peak(device, torch.float32, n)}
    # A CPU without bf16 units emulates bf16: its "peak" is no peak, and one 2048 matmul takes minutes.
    if has_bf16_units(device):
        peaks["bf16"] = matmul_peak(device, torch.bfloat16, n)

    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({cpu_name()})",
        "device_type": device.type,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "size": args.size,
        "narrow": args.narrow,
        "num_style_feat": args.style_feat,
        "batch": batch_size,
        "rounds": args.rounds,
        "reg_every": reg_every,
        "crop_sizes": list(crop_sizes),
        "set": list(args.set),
        "switch": list(switch),
        "precision": precision,
        "official_ops": ops,
        "official_ops_note": ops_note,
        "memory_method": PeakMemory.method(device),
        "times_s": driver.times,
        "first_iteration_s": driver.first,
        "peak_bytes": driver.peaks,
        "iteration_flops": driver.flops,
        "uncounted_ops": sorted(driver.uncounted),
        "forward": {"flops": forward_flops, "median_s": statistics.median(forward_times)},
        "matmul": {"n": n, "flops_per_s": peaks, "tf32": torch.backends.cuda.matmul.allow_tf32},
        "profile_us": driver.profiles,
    }


# ------------------------------------------------------------------ the report
def amortised(times: dict[str, list[float]], reg_every: int) -> float:
    return ((reg_every - 1) * statistics.median(times["plain"]) + statistics.median(times["r1"])) / reg_every


def report(figures: dict[str, Any]) -> list[str]:
    """The markdown report (and, in place, the derived figures added to `figures`)."""
    reg = figures["reg_every"]
    times = figures["times_s"]
    per_iter = {side: amortised(times[side], reg) for side in SIDES}
    ratio = per_iter["FaceRevive"] / per_iter["official"]
    figures["amortised_s"] = per_iter
    figures["ratio"] = ratio
    ops = ", ".join(f"{name} {kind}" for name, kind in figures["official_ops"].items())
    lines = [
        f"## Training iteration: FaceRevive GFPGANModule vs official GFPGANModel ({figures['device_type']})",
        "",
        f"device {figures['device']}, torch {figures['torch']}, threads {figures['threads']}; "
        f"size {figures['size']}, narrow {figures['narrow']}, num_style_feat {figures['num_style_feat']}, "
        f"batch {figures['batch']}, component crops {figures['crop_sizes'][0]}/{figures['crop_sizes'][1]} px, "
        f"R1 every {reg}, rounds {figures['rounds']} (A/B alternating), FaceRevive precision {figures['precision']}"
        + (f"; FaceRevive overrides: {' '.join(figures['set'])}" if figures["set"] else "")
        + (f"; switched on: {' '.join(figures['switch'])}" if figures["switch"] else ""),
        f"official ops: {ops} ({figures['official_ops_note'] or 'BASICSR_JIT build used'})",
        "ranked: median wall time per iteration, amortised over R1 every "
        f"{reg} iterations; ratio = FaceRevive / official (< 1: FaceRevive faster)",
        f"peak memory: {figures['memory_method']}",
        "",
        "| | official | FaceRevive | ratio |",
        "|---|---:|---:|---:|",
    ]
    for kind, label in (("plain", "plain iteration s (median)"), ("r1", "R1 iteration s (median)")):
        a, b = (statistics.median(times[side][kind]) for side in SIDES)
        lines.append(f"| {label} | {a:.3f} | {b:.3f} | {b / a:.2f}x |")
    a, b = per_iter["official"], per_iter["FaceRevive"]
    lines.append(f"| **amortised s/iteration** | **{a:.3f}** | **{b:.3f}** | **{ratio:.2f}x** |")
    a, b = (figures["first_iteration_s"][side] for side in SIDES)
    lines.append(f"| first iteration s (warm-up; torch.compile compiles here) | {a:.3f} | {b:.3f} | {b / a:.2f}x |")
    mem = figures["peak_bytes"]
    for kind in KINDS:
        a, b = (mem[side][kind] / 2**20 for side in SIDES)
        lines.append(
            f"| peak memory MiB, {'plain' if kind == 'plain' else 'R1'} iteration | {a:.1f} | {b:.1f} | {b / a:.2f}x |"
        )

    if figures["profile_us"]:
        rows, table = profile_table(figures["profile_us"]["plain"], figures["profile_us"]["r1"], reg)
        figures["profile"] = table
        lines += [
            "",
            "## Profile of one FaceRevive iteration (torch.profiler)",
            "",
            ("GPU kernel time" if figures["device_type"] == "cuda" else "CPU time")
            + " per component, under the profiler (its overhead included); backward counted with the forward "
            "that created it; amortised = (plain x "
            f"{reg - 1} + R1) / {reg}",
            "",
            *rows,
        ]

    flops = figures["iteration_flops"]
    iter_flops = ((reg - 1) * flops["plain"] + flops["r1"]) / reg
    forward = figures["forward"]
    if iter_flops <= 0 or forward["flops"] <= 0:
        raise RuntimeError(f"the FLOP counter saw no matmul/conv work (iteration {flops}, forward {forward})")
    peaks = figures["matmul"]["flops_per_s"]
    achieved = {
        f"generator forward ({figures['size']} px, batch {figures['batch']}, inference)": (
            forward["flops"],
            forward["median_s"],
        ),
        "training iteration (amortised)": (iter_flops, per_iter["FaceRevive"]),
    }
    figures["utilisation"] = {}
    header = "| work | FLOPs | s | achieved FLOP/s | / fp32 matmul peak |" + (
        " / bf16 matmul peak |" if "bf16" in peaks else ""
    )
    lines += [
        "",
        "## Utilisation (FaceRevive)",
        "",
        f"matmul peak measured in this run ({figures['matmul']['n']}^2): "
        + ", ".join(f"{dtype} {si(v, 'FLOP/s')}" for dtype, v in peaks.items())
        + (
            f" (TF32 matmul {'on' if figures['matmul']['tf32'] else 'off'})" if figures["device_type"] == "cuda" else ""
        ),
        "FLOPs: torch.utils.flop_counter (matmul and convolution families, forward and backward; elementwise ops "
        "are not counted); ops seen without a formula: "
        + (", ".join(figures["uncounted_ops"]) or "none besides elementwise aten ops"),
        "",
        header,
        "|---|---:|---:|---:|---:|" + ("---:|" if "bf16" in peaks else ""),
    ]
    for label, (count, seconds) in achieved.items():
        rate = count / seconds
        row = f"| {label} | {si(count, 'FLOP')} | {seconds:.3f} | {si(rate, 'FLOP/s')} | {rate / peaks['fp32']:.3g} |"
        if "bf16" in peaks:
            row += f" {rate / peaks['bf16']:.3g} |"
        lines.append(row)
        figures["utilisation"][label] = {"flops": count, "seconds": seconds, "flops_per_s": rate}
    return lines


def switch_summary(runs: list[dict[str, Any]]) -> list[str]:
    """The ratio of each run (the first without switches) and each switch's gain over the run without."""
    base = runs[0]["ratio"]
    lines = [
        "",
        "## Switches (each a separate side-by-side run)",
        "",
        "ratio = FaceRevive / official amortised s/iteration (< 1: FaceRevive faster); gain = ratio without / "
        "ratio with (> 1: the switch pays)",
        "",
        "| FaceRevive switched on | official s | FaceRevive s | ratio | gain |",
        "|---|---:|---:|---:|---:|",
    ]
    for figures in runs:
        label = " ".join(figures["switch"]) or "(none: the shipped config)"
        seconds = figures["amortised_s"]
        lines.append(
            f"| {label} | {seconds['official']:.3f} | {seconds['FaceRevive']:.3f} | {figures['ratio']:.2f}x "
            f"| {base / figures['ratio']:.2f}x |"
        )
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--size", type=int, default=256, help="out_size (the official crops need >= 512 or a fix)")
    parser.add_argument("--narrow", type=float, default=0.5, help="network width factor (1 = the paper)")
    parser.add_argument("--style-feat", type=int, default=512, help="num_style_feat (512 = the paper)")
    parser.add_argument("--batch", type=int, default=0, help="0: 1 on CPU, 3 on GPU (the paper's per-GPU batch)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (each: one plain + one R1 iteration)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--profile", action="store_true", help="add the per-component profile table")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="Hydra overrides for FaceRevive's side"
    )
    parser.add_argument(
        "--switch",
        nargs="+",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a speed switch to measure (overrides of FaceRevive's side, e.g. model.channels_last=true): one more "
        "run with it on; repeat for each switch",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("facerevive").setLevel(logging.ERROR)  # "ArcFace is RANDOMLY INITIALISED" is expected here
    warnings.filterwarnings("ignore", module="lightning")
    runs = []
    for switch in [[], *args.switch]:
        if switch:
            progress(f"the same comparison with {' '.join(switch)}")
        figures = run(args, switch)
        print("\n".join(report(figures)), flush=True)
        runs.append(figures)
    if args.switch:
        print("\n".join(switch_summary(runs)))
        runs[0]["switches"] = runs[1:]
    if args.json is not None:
        from facerevive.utils.files import atomic_write_text

        atomic_write_text(args.json, json.dumps(runs[0], indent=2))
    return runs[0]


if __name__ == "__main__":
    main()
