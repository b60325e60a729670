"""The fast inference form of restoration: chosen per device (`precision=auto`, `compile=auto`), within its stated
error of the exact fp32 form on the sample faces, and compiled once per machine (the persistent compile cache).

Stated tolerances (docs/restore/README.md): the fast form in fp32 (activation-form modulated convolution,
channels_last) is within 1e-5 of the exact form on [-1, 1]; in bf16 within the bf16 bounds of
test_restore_precision.py (v1.4 shape: 3/255 levels, PSNR >= 50 dB at the small size).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from facerevive.restore import FaceRestorer
from facerevive.restore.build import build_network
from facerevive.restore.fastpath import (
    BF16_UNITS_ENV,
    CACHE_ENV,
    compile_cache_dir,
    in_form,
    is_exact_form,
    is_fast_form,
    resolve_compile,
    resolve_precision,
)
from facerevive.restore.network import draw_noise

pytestmark = pytest.mark.parity

ROOT = Path(__file__).resolve().parents[1]
SMALL_MODEL = {"out_size": 32, "num_style_feat": 64, "channel_multiplier": 1, "narrow": 0.125}
FP32_FAST_TOLERANCE = 1e-5  # max abs on [-1, 1] of the fast fp32 form against the exact form
BF16_TOLERANCE = (3.0, 50.0)  # (largest uint8 difference, lowest PSNR dB), as test_restore_precision.py states
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    """The sample faces at the small network's size, (N, 32, 32, 3) uint8 BGR."""
    paths = sorted((ROOT / "data" / "samples").glob("*.png"))
    small = [cv2.resize(cv2.imread(str(path)), (32, 32), interpolation=cv2.INTER_AREA) for path in paths]
    return torch.from_numpy(np.stack(small))


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    return build_network("random:gfpgan_v1.4", "cpu", SMALL_MODEL)


@pytest.mark.parametrize("units", ["0", "1"])
def test_auto_choices_follow_the_bf16_units(monkeypatch, units):
    monkeypatch.setenv(BF16_UNITS_ENV, units)
    with_units = units == "1"
    assert resolve_precision("auto", CPU) == ("bf16" if with_units else "fp32")
    assert resolve_compile("auto", CPU, 512) is with_units
    assert resolve_compile("auto", CPU, 64) is False  # a small network never pays back its compile time
    assert resolve_precision("fp32", CPU) == "fp32" and resolve_compile(False, CPU, 512) is False
    assert resolve_compile(True, CPU, 64) is True


def test_an_unknown_compile_choice_is_refused():
    with pytest.raises(ValueError, match=r"^compile='yes': allowed values are auto \| true \| false$"):
        resolve_compile("yes", CPU, 512)


def test_compile_cache_is_under_the_users_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache_dir() == tmp_path / "facerevive" / "compile"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert compile_cache_dir() == tmp_path / "mine" / "compile"


def test_fast_form_is_a_copy_and_the_callers_network_stays_exact(net, faces):
    exact_before = FaceRestorer(net, "cpu").restore_tensor(faces)
    fast = FaceRestorer(net, "cpu", compile=True)  # compiles lazily, at the first call (none here)
    assert fast.net is not net and is_fast_form(fast.net) and is_exact_form(net)
    # An exact restorer on the fast copy converts it back: the official computation, bit for bit.
    exact_again = FaceRestorer(fast.net, "cpu")
    assert exact_again.net is not fast.net and is_exact_form(exact_again.net)
    assert torch.equal(exact_again.restore_tensor(faces), exact_before)
    assert in_form(net, fast=False) is net  # no copy when the network already is in the form asked for


def test_fast_fp32_form_is_within_its_tolerance_of_the_exact_form(net, faces):
    """The activation form in channels_last against the grouped form, float outputs on [-1, 1] (measured on the
    sample faces: a few 1e-7; the bound is the one stated for fp32)."""
    x = faces.permute(0, 3, 1, 2).flip(1).float().div(127.5).sub(1)
    noise = draw_noise(net, len(faces), torch.Generator().manual_seed(0), CPU)
    fast = in_form(net, fast=True)
    kwargs = {"return_rgb": False, "randomize_noise": False, "noise": noise}
    with torch.inference_mode():
        exact = net(x, **kwargs)[0]
        quick = fast(x.contiguous(memory_format=torch.channels_last), **kwargs)[0]
    error = float((quick - exact).abs().max())
    assert 0 < error <= FP32_FAST_TOLERANCE, error  # > 0: the fast form did run (not the grouped one)


def test_default_on_bf16_hardware_is_the_bf16_fast_form_within_its_tolerance(monkeypatch, net, faces):
    """precision=auto on a CPU with bf16 units: bf16 autocast, within the stated bf16 bound of the exact fp32
    output (compile=auto leaves this small network eager, so it keeps the exact form's network)."""
    monkeypatch.setenv(BF16_UNITS_ENV, "1")
    restorer = FaceRestorer(net, "cpu", precision="auto", compile="auto")
    assert (restorer.precision, restorer.compiled, restorer.fast) == ("bf16", False, False)
    exact = FaceRestorer(net, "cpu").restore_tensor(faces).float()
    difference = (restorer.restore_tensor(faces).float() - exact).abs()
    psnr = 10 * np.log10(255.0**2 / float((difference**2).mean()))
    max_levels, min_psnr = BF16_TOLERANCE
    assert 0 < float(difference.max()) <= max_levels and psnr >= min_psnr, (float(difference.max()), psnr)


def test_default_without_bf16_units_is_the_exact_form(net, faces):
    """conftest sets a CPU without bf16 units: auto is exact fp32, eager, the caller's own network."""
    restorer = FaceRestorer(net, "cpu", precision="auto", compile="auto")
    assert (restorer.precision, restorer.compiled, restorer.fast) == ("fp32", False, False)
    assert restorer.net is net


COMPILE_SCRIPT = """
import json, logging, sys, torch
from torch._dynamo.utils import counters
from facerevive.restore import FaceRestorer
from facerevive.restore.build import build_network
logging.basicConfig(level=logging.WARNING, format="%(message)s")
net = build_network("random:gfpgan_v1.4", "cpu", json.loads(sys.argv[1]))
faces = torch.from_numpy(__import__("numpy").load(sys.argv[2]))
compiled = FaceRestorer(net, "cpu", compile=True)
out = compiled.restore_tensor(faces[:1])
exact = FaceRestorer(net, "cpu").restore_tensor(faces[:1])
cache = counters["inductor"]
levels = int((out.int() - exact.int()).abs().max())
eager = compiled._forward.compiled is None
print(json.dumps({"hits": cache["fxgraph_cache_hit"], "misses": cache["fxgraph_cache_miss"], "levels": levels,
                  "eager": eager}))
"""


@pytest.mark.slow
def test_compile_runs_once_per_machine_then_comes_from_the_cache(tmp_path, faces):
    """Two processes compile the same small network with one cache folder: the first compiles (and says so in a
    log line), the second takes Inductor's code from the cache (hits, no misses); both match the exact form to
    one 8-bit level (fp32 under torch.compile is within 1e-5 of eager, a level flips where rounding is on edge)."""
    np.save(tmp_path / "faces.npy", faces.numpy())
    env = {**os.environ, CACHE_ENV: str(tmp_path / "cache"), "PYTHONPATH": str(ROOT / "src")}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    runs = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-c", COMPILE_SCRIPT, json.dumps(SMALL_MODEL), str(tmp_path / "faces.npy")],
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "compiling the restoration network for input (1, 3, 32, 32)" in result.stderr
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    first, second = runs
    assert not first["eager"] and not second["eager"], "torch.compile failed and fell back to eager"
    assert first["misses"] >= 1
    assert second["hits"] >= 1 and second["misses"] == 0, second
    assert first["levels"] <= 1 and second["levels"] <= 1
    assert any((tmp_path / "cache" / "compile").iterdir())
