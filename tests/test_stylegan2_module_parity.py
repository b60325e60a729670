"""Parity of StyleGAN2 prior training iterations with BasicSR's `basicsr.models.stylegan2_model.StyleGAN2Model`.

Both models start from the same weights (official -> ours), see the same real batches and draw the same latent
codes and noise; after each iteration every loss term and every updated weight (net_g, net_g_ema, net_d) must
agree within 1e-5 relative, for both generator flavours: BasicSR's model builds its generator from
`network_g.type` through the arch registry, so the clean flavour is gfpgan's `StyleGAN2GeneratorClean`
(registered there when `gfpgan.archs` is imported), trained by the same StyleGAN2Model.

How the same draws are fed (transparently, on the reference side only): StyleGAN2Module draws the style-mixing
coin and crossover layer from its torch stream, BasicSR from Python's `random`. The reference's `random` (in
`stylegan2_model` and in the generator modules) is replaced by `TorchDrawnRandom`, which draws those two numbers
from torch's global stream exactly as StyleGAN2Module does; both sides then start from seed 0, so the codes, the
noise maps and the path-length projections come out of the same stream in the same order.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from helpers.compare import assert_close_to_peak
from helpers.reference import import_reference
from hydra.utils import instantiate
from test_gfpgan_module_parity import run_ours

from facerevive.models import StyleGAN2Module

pytestmark = pytest.mark.parity

RTOL = 1e-5
SIZE = 32
BATCH = 2
FLAVOURS = {
    # name: (BasicSR network_g type, our generator class)
    "equalized": ("StyleGAN2Generator", "facerevive.archs.StyleGAN2Generator"),
    "clean": ("StyleGAN2GeneratorClean", "facerevive.archs.StyleGAN2GeneratorClean"),
}


class TorchDrawnRandom:
    """Python's `random` as BasicSR's StyleGAN2 code calls it, drawn from torch's global stream the way
    `StyleGAN2Module.sample_styles` draws the same numbers."""

    @staticmethod
    def random() -> float:
        return float(torch.rand(()))

    @staticmethod
    def randint(low: int, high: int) -> int:
        return int(torch.randint(low, high + 1, ()))


def official_opt(flavour: str, reg_every: int, mixing_prob: float) -> dict[str, Any]:
    """A BasicSR StyleGAN2 option dict (train_StyleGAN2_256_Cmul2_FFHQ.yml numbers, tiny widths, short intervals)."""
    network_g: dict[str, Any] = {
        "type": FLAVOURS[flavour][0],
        "out_size": SIZE,
        "num_style_feat": 32,
        "num_mlp": 2,
        "channel_multiplier": 1,
        "narrow": 1 / 16,
    }
    if flavour == "equalized":
        network_g.update(resample_kernel=[1, 3, 3, 1], lr_mlp=0.01)
    return {
        "num_gpu": 0,
        "dist": False,
        "is_train": True,
        "rank": 0,
        "world_size": 1,
        "network_g": network_g,
        "network_d": {
            "type": "StyleGAN2Discriminator",
            "out_size": SIZE,
            "channel_multiplier": 1,
            "resample_kernel": [1, 3, 3, 1],
            "narrow": 1 / 16,
        },
        "path": {},
        "val": {"num_val_samples": 4},
        "train": {
            "optim_g": {"type": "Adam", "lr": 2e-3},
            "optim_d": {"type": "Adam", "lr": 2e-3},
            "scheduler": {"type": "MultiStepLR", "milestones": [3], "gamma": 0.5},
            "total_iter": 10,
            "warmup_iter": -1,
            "gan_opt": {"type": "GANLoss", "gan_type": "wgan_softplus", "loss_weight": 1},
            "r1_reg_weight": 10,
            "path_reg_weight": 2,
            "net_g_reg_every": reg_every,
            "net_d_reg_every": reg_every,
            "path_batch_shrink": 2,
            "mixing_prob": mixing_prob,
        },
    }


def our_config(opt: dict[str, Any], flavour: str, total_iter: int) -> dict[str, Any]:
    """The same set-up as a StyleGAN2Module config, built the way Hydra builds configs/model/stylegan2.yaml."""
    train = opt["train"]
    g = {k: v for k, v in opt["network_g"].items() if k != "type"}
    d = {k: v for k, v in opt["network_d"].items() if k != "type"}

    def adam(reg_every: int) -> dict[str, Any]:
        return {
            "_target_": "facerevive.models.lazy_r1_adam",
            "_partial_": True,
            "lr": 2e-3,
            "betas": [0.0, 0.99],
            "reg_every": reg_every,
            "scale_lr": False,
        }

    return {
        "_target_": "facerevive.models.StyleGAN2Module",
        "_convert_": "all",
        "net_g": {"_target_": FLAVOURS[flavour][1], **g},
        "net_d": {"_target_": "facerevive.archs.StyleGAN2Discriminator", **d},
        "optimizer_g": adam(train["net_g_reg_every"]),
        "optimizer_d": adam(train["net_d_reg_every"]),
        "scheduler": {
            "_target_": "torch.optim.lr_scheduler.MultiStepLR",
            "_partial_": True,
            "milestones": train["scheduler"]["milestones"],
            "gamma": 0.5,
        },
        "r1_weight": train["r1_reg_weight"],
        "net_d_reg_every": train["net_d_reg_every"],
        "path_weight": train["path_reg_weight"],
        "net_g_reg_every": train["net_g_reg_every"],
        "path_batch_shrink": train["path_batch_shrink"],
        "mixing_prob": train["mixing_prob"],
        "total_iter": total_iter,
        "seed": 0,
    }


def build_official(opt: dict[str, Any], monkeypatch: pytest.MonkeyPatch):
    """BasicSR's StyleGAN2Model (CPU) with its Python `random` draws taken from torch's stream."""
    model_module = import_reference("basicsr.models.stylegan2_model")
    import_reference("gfpgan.archs")  # registers StyleGAN2GeneratorClean in BasicSR's arch registry
    for name in ("basicsr.models.stylegan2_model", "basicsr.archs.stylegan2_arch", "gfpgan.archs.stylegan2_clean_arch"):
        monkeypatch.setattr(import_reference(name), "random", TorchDrawnRandom)
    return model_module.StyleGAN2Model(copy.deepcopy(opt))


def copy_weights(official, ours: StyleGAN2Module) -> None:
    ours.net_g.load_state_dict(official.net_g.state_dict())
    ours.net_g_ema.load_state_dict(official.net_g_ema.state_dict())
    ours.net_d.load_state_dict(official.net_d.state_dict())


def make_batches(iterations: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1234)
    return [{"gt": torch.rand(BATCH, 3, SIZE, SIZE, generator=generator) * 2 - 1} for _ in range(iterations)]


def run_official(official, batches: list[dict[str, torch.Tensor]]) -> list[dict[str, float]]:
    torch.manual_seed(0)  # StyleGAN2Module(seed=0) starts its stream from the same state
    history = []
    for iteration, batch in enumerate(batches, start=1):
        official.update_learning_rate(iteration, warmup_iter=-1)
        official.feed_data({"gt": batch["gt"].clone()})  # BasicSR sets requires_grad on it for R1
        official.optimize_parameters(iteration)
        history.append(dict(official.log_dict))
    return history


def record_mixing(module: StyleGAN2Module) -> list[bool]:
    """Whether each of the module's latent draws mixed two codes, in order."""
    mixed: list[bool] = []
    sample = module.sample_styles

    def recording(batch: int):
        styles, inject_index = sample(batch)
        mixed.append(inject_index is not None)
        return styles, inject_index

    module.sample_styles = recording
    return mixed


def compare(official, ours: StyleGAN2Module, ours_history, official_history) -> None:
    assert len(ours_history) == len(official_history)
    for step, (mine, theirs) in enumerate(zip(ours_history, official_history), start=1):
        assert set(mine) == set(theirs), f"iteration {step}: loss terms differ: {set(mine) ^ set(theirs)}"
        for name, value in theirs.items():
            assert_close_to_peak(torch.tensor(mine[name]), torch.tensor(value), rel=RTOL, what=f"iter {step} {name}")
    assert_close_to_peak(ours.mean_path_length, torch.as_tensor(official.mean_path_length), RTOL, "mean_path_length")
    for name in ("net_g", "net_g_ema", "net_d"):
        mine = getattr(ours, name).state_dict()
        for key, value in getattr(official, name).state_dict().items():
            assert_close_to_peak(mine[key], value, rel=RTOL, what=f"{name}.{key}")


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_training_logic_matches_basicsr_several_iterations(flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The training step itself: BasicSR's networks plugged into StyleGAN2Module, four iterations.

    R1 and path length every 2 iterations (iterations 2 and 4, so the running path-length mean is updated from a
    non-zero value), an LR milestone at 3 and mixing probability 0.5 make the four iterations cover both
    regularisers, the schedule switch and both latent branches (one code and style mixing).
    """
    opt = official_opt(flavour, reg_every=2, mixing_prob=0.5)
    torch.manual_seed(5)
    official = build_official(opt, monkeypatch)
    ours = instantiate(
        our_config(opt, flavour, total_iter=4),
        net_g=copy.deepcopy(official.net_g),
        net_d=copy.deepcopy(official.net_d),
    )
    copy_weights(official, ours)
    mixed = record_mixing(ours)
    batches = make_batches(4)
    official_history = run_official(official, batches)
    ours_history = run_ours(ours, batches)
    assert [("l_d_r1" in h, "l_g_path" in h) for h in ours_history] == [(False, False), (True, True)] * 2
    assert any(mixed) and not all(mixed), mixed
    compare(official, ours, ours_history, official_history)
    assert ours.optimizers()[0].param_groups[0]["lr"] == pytest.approx(1e-3)


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_one_iteration_with_our_networks_matches_basicsr(flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """FaceRevive's own networks in the module, one iteration with R1, path length and the recipe's mixing 0.9.

    The networks' backward passes agree with the official ones to about 1e-7 relative (equivalent but
    differently ordered ops); Adam with beta1 = 0 amplifies that from one iteration to the next, so this test
    covers one iteration and the test above covers several iterations of the step logic with identical networks.
    """
    opt = official_opt(flavour, reg_every=1, mixing_prob=0.9)
    torch.manual_seed(5)
    official = build_official(opt, monkeypatch)
    ours = instantiate(our_config(opt, flavour, total_iter=1))
    assert type(ours.net_g).__name__ == type(official.net_g).__name__
    copy_weights(official, ours)
    batches = make_batches(1)
    official_history = run_official(official, batches)
    ours_history = run_ours(ours, batches)
    assert "l_d_r1" in ours_history[0] and "l_g_path" in ours_history[0]
    compare(official, ours, ours_history, official_history)
