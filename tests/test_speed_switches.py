"""The training speed switches (facerevive.models.speed): each one on against the shipped setting, same weights and
batches, for GFPGANModule, and for StyleGAN2Module, which takes them from the same IterationModule.

A switch that keeps the fp32 arithmetic must give bit-identical losses and weights; one that changes the rounding
(another kernel, reduced precision) must stay within the tolerance stated in its test. The official-code parity
of the shipped setting is tests/test_gfpgan_module_parity.py; benchmarks/bench_train.py --switch measures them.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from helpers.compare import error_to_peak
from helpers.official_gfpgan import build_ours, make_batches, official_opt, our_config
from hydra.utils import instantiate
from test_gfpgan_module_parity import run_ours
from test_stylegan2_module_parity import make_batches as prior_batches
from test_stylegan2_module_parity import official_opt as prior_opt
from test_stylegan2_module_parity import our_config as prior_config

import facerevive.models.speed as speed
from facerevive.models import GFPGANModule

pytestmark = pytest.mark.parity

SIZE = 64
ITERATIONS = 2  # R1 every 2: one plain and one R1 iteration, the second one on Adam's state of the first

Run = tuple[list[dict[str, float]], dict[str, torch.Tensor]]


def tiny_config(**switches: Any) -> dict:
    """The paper's losses with components at 64 px (crops scaled to 10 / 15 px), narrow networks; to stay quick,
    the perceptual loss on the first two VGG stages and no identity loss (ArcFace's cost, none of the switches')."""
    opt = official_opt(SIZE, narrow=0.125, components=True, reg_every=ITERATIONS, remove_pyramid=50000)
    config = our_config(opt)
    config["perceptual"]["layer_weights"] = {"conv1_2": 0.1, "conv2_2": 0.1}
    del config["net_identity"]
    config.update(total_iter=ITERATIONS, **switches)
    return config


def with_adam(config: dict, **implementation: bool) -> dict:
    """`config` with every optimiser given torch's Adam `implementation` (foreach=True or fused=True)."""
    for key in ("optimizer_g", "optimizer_d", "optimizer_component"):
        config[key].update(implementation)
    return config


def train(config: dict, start: dict[str, torch.Tensor], precision: str = "32-true") -> Run:
    """ITERATIONS iterations of the module built from `config` with the weights `start`: losses, final weights."""
    module: GFPGANModule = build_ours(config)
    module.load_state_dict(start)
    batches = make_batches(SIZE, 2, ITERATIONS)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # these small ops: a second thread on a shared CPU slows them down many times
    try:
        losses = run_ours(module, batches, precision)
    finally:
        torch.set_num_threads(threads)
    weights = {k: v.detach().clone() for k, v in module.state_dict().items()}
    return losses, weights


@pytest.fixture(scope="module")
def start() -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    return copy.deepcopy(build_ours(tiny_config()).state_dict())


@pytest.fixture(scope="module")
def shipped(start: dict[str, torch.Tensor]) -> Run:
    """The shipped switches (shared real-crop pass, torch's default Adam, fp32)."""
    losses, weights = train(tiny_config(), start)
    assert "l_g_comp_style_loss" in losses[0] and "l_d_r1" in losses[1] and "l_d_mouth" in losses[1]
    return losses, weights


def assert_identical(run: Run, reference: Run) -> None:
    assert run[0] == reference[0]
    for key, value in reference[1].items():
        assert torch.equal(run[1][key], value), key


SCORES = ("real_score", "fake_score")  # means of D logits around 0: compared in absolute terms


@dataclass(frozen=True)
class Deviation:
    """How far a run is from the reference run: the largest error to peak (helpers.compare.error_to_peak) of any
    loss term, the largest absolute error of a D score, and |weights - reference weights| / |reference update| over
    every trained tensor (norms of all of them together).

    Per-tensor weight errors would say little: Adam with beta1 = 0 steps each weight by about lr * sign(gradient),
    so a gradient near 0 that rounds to the other sign moves that weight 2 lr away whatever the precision.
    """

    loss: float
    score: float
    update: float


def deviation(run: Run, reference: Run, start: dict[str, torch.Tensor]) -> Deviation:
    (losses, weights), (ref_losses, ref_weights) = run, reference
    assert [set(step) for step in losses] == [set(step) for step in ref_losses]
    pairs = [(mine[k], theirs[k], k) for mine, theirs in zip(losses, ref_losses, strict=True) for k in theirs]
    loss = max(error_to_peak(torch.tensor(a), torch.tensor(b)) for a, b, k in pairs if k not in SCORES)
    score = max(abs(a - b) for a, b, k in pairs if k in SCORES)
    trained = [k for k, v in ref_weights.items() if v.is_floating_point() and not torch.equal(v, start[k])]
    difference = torch.cat([(weights[k] - ref_weights[k]).double().flatten() for k in trained])
    update = torch.cat([(ref_weights[k] - start[k]).double().flatten() for k in trained])
    return Deviation(loss, score, float(difference.norm() / update.norm()))


def test_foreach_adam_is_bit_identical_to_the_loop(start, shipped) -> None:
    assert_identical(train(with_adam(tiny_config(), foreach=True), start), shipped)


def test_fused_adam_within_its_tolerance(start, shipped) -> None:
    """The fused kernel rounds Adam's update differently (a few ulp): fp32-rounding tolerances (measured: losses
    6e-7, scores 0, update 1.7e-6)."""
    found = deviation(train(with_adam(tiny_config(), fused=True), start), shipped, start)
    assert found.loss <= 1e-5 and found.score <= 1e-5 and 0 < found.update <= 1e-3, found


def test_channels_last_within_its_tolerance(start, shipped) -> None:
    """fp32 channels-last convolutions take other kernels (another summation order): fp32-rounding tolerances
    (measured: losses 5e-7, scores 1e-7, update 3.2e-5)."""
    found = deviation(train(tiny_config(channels_last=True), start), shipped, start)
    assert found.loss <= 1e-5 and found.score <= 1e-5 and found.update <= 1e-3, found


def test_bf16_mixed_within_its_tolerance(start, shipped) -> None:
    """bf16 autocast (8 mantissa bits) against fp32: every loss term within 5e-2 relative, the D scores within 2e-2,
    the weights within half the size of the update (measured: 2.4e-2, 4.7e-3, 0.15)."""
    found = deviation(train(tiny_config(), start, precision="bf16-mixed"), shipped, start)
    assert 0 < found.loss <= 5e-2 and found.score <= 2e-2 and found.update <= 0.5, found


def test_tf32_switch_sets_the_cuda_modes_and_leaves_cpu_training_exact(start, shipped) -> None:
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        run = train(tiny_config(tf32=True), start)
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
    assert_identical(run, shipped)


def broken_compile(net: torch.nn.Module) -> Any:
    """torch.compile as it fails on a machine without a working compiler (at the first call)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("InductorError: no working C++ compiler\nmore detail")

    return call


def test_failed_compile_falls_back_to_eager_with_one_message(start, shipped, monkeypatch, caplog) -> None:
    monkeypatch.setattr(speed.torch, "compile", broken_compile)
    with caplog.at_level(logging.WARNING, logger="facerevive.models.speed"):
        run = train(tiny_config(compile=True), start)
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 2, failures  # one per network, however often it is called
    reason = "(RuntimeError: InductorError: no working C++ compiler); "
    assert all(reason in m and "runs eagerly" in m for m in failures), failures
    assert {m.split("torch.compile of ")[1].split(" ")[0] for m in failures} == {"net_g", "net_d"}
    assert_identical(run, shipped)


def test_the_prior_trainer_takes_the_same_switches(monkeypatch, caplog) -> None:
    """StyleGAN2Module, two iterations with R1 and path length: tf32 and a failed compile (eager fallback) leave
    CPU training bit-identical, channels_last within the GFPGAN test's fp32-rounding tolerances."""
    config = prior_config(prior_opt("equalized", reg_every=1, mixing_prob=0.9), "equalized", total_iter=ITERATIONS)

    def run(**switches: Any) -> Run:
        torch.manual_seed(0)  # the same initial weights for every run
        module = instantiate({**config, **switches})
        losses = run_ours(module, prior_batches(ITERATIONS))
        return losses, {k: v.detach().clone() for k, v in module.state_dict().items()}

    torch.manual_seed(0)
    start = {k: v.detach().clone() for k, v in instantiate(config).state_dict().items()}
    shipped = run()
    assert {"l_d_r1", "l_g_path"} <= set(shipped[0][1])
    monkeypatch.setattr(speed.torch, "compile", broken_compile)
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        with caplog.at_level(logging.WARNING, logger="facerevive.models.speed"):
            assert_identical(run(compile=True, tf32=False), shipped)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
    assert sum("runs eagerly" in r.getMessage() for r in caplog.records) == 2
    found = deviation(run(channels_last=True), shipped, start)
    assert found.loss <= 1e-5 and found.score <= 1e-5 and found.update <= 1e-3, found
