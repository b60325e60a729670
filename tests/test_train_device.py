"""GFPGANModule on the test device: bf16-mixed training with R1, and exact resume with that device's noise stream.

CI runs these on the CPU; FACEREVIVE_TEST_DEVICE=cuda runs them on a GPU (where they were also checked).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from helpers.compare import TEST_DEVICE
from helpers.configs import tiny_net_g_config
from hydra.utils import instantiate

from facerevive.models import GFPGANModule

ACCELERATOR = "gpu" if TEST_DEVICE.type == "cuda" else "cpu"
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# A small module with every loss on, configured as configs/model is (Hydra builds it recursively).
TINY = {
    "_target_": "facerevive.models.GFPGANModule",
    "_convert_": "all",
    "net_g": tiny_net_g_config(input_is_latent=True),
    "net_d": {
        "_target_": "facerevive.archs.StyleGAN2Discriminator",
        "out_size": 64,
        "channel_multiplier": 1,
        "narrow": 0.25,
    },
    "net_d_left_eye": {"_target_": "facerevive.archs.FacialComponentDiscriminator"},
    "net_d_right_eye": {"_target_": "facerevive.archs.FacialComponentDiscriminator"},
    "net_d_mouth": {"_target_": "facerevive.archs.FacialComponentDiscriminator"},
    "net_identity": {"_target_": "facerevive.archs.ResNetArcFace", "use_se": False},
    "perceptual": {
        "_target_": "facerevive.losses.PerceptualLoss",
        "layer_weights": {"conv1_2": 0.1, "conv2_2": 0.1},
        "range_norm": True,
        "style_weight": 50.0,
    },
    "optimizer_g": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 2e-3, "betas": [0.0, 0.99]},
    "optimizer_d": {
        "_target_": "facerevive.models.lazy_r1_adam",
        "_partial_": True,
        "lr": 2e-3,
        "betas": [0.0, 0.99],
        "reg_every": 1,
    },
    "optimizer_component": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 2e-3, "betas": [0.9, 0.99]},
    "eye_out_size": 16,
    "mouth_out_size": 24,
    "net_d_reg_every": 1,
}


def tiny_module(total_iter: int) -> GFPGANModule:
    return instantiate({**TINY, "total_iter": total_iter})


def batches(n: int) -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        gt = torch.rand(2, 3, 64, 64, generator=generator) * 2 - 1
        box = torch.tensor([[20.0, 24.0, 30.0, 34.0], [34.0, 24.0, 44.0, 34.0], [24.0, 40.0, 40.0, 52.0]])
        out.append(
            {
                "lq": (gt + 0.2 * torch.randn(gt.shape, generator=generator)).clamp(-1, 1),
                "gt": gt,
                "loc_left_eye": box[0].repeat(2, 1),
                "loc_right_eye": box[1].repeat(2, 1),
                "loc_mouth": box[2].repeat(2, 1),
            }
        )
    return out


def fit(module: GFPGANModule, data: list[dict], precision: str, root: Path, ckpt_path: str | None = None) -> L.Trainer:
    trainer = L.Trainer(
        accelerator=ACCELERATOR,
        devices=1,
        precision=precision,
        max_epochs=-1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        deterministic=True,
        enable_checkpointing=False,
    )
    loader = torch.utils.data.DataLoader(data, batch_size=None)
    # Checkpoints hold plain data only: the safe loader suffices.
    trainer.fit(module, loader, ckpt_path=ckpt_path, weights_only=True)
    return trainer


def test_bf16_mixed_trains_with_r1(tmp_path: Path) -> None:
    """One iteration with every loss and the R1 penalty under bf16 autocast: finite losses, and every trained
    network takes a finite step. One is enough to prove the path; a CPU without native bf16 (AVX2 only)
    emulates it at minutes per iteration."""
    module = tiny_module(1)
    before = {name: p.detach().clone() for name, p in module.named_parameters() if p.requires_grad}
    fit(module, batches(1), "bf16-mixed", tmp_path)
    assert module.iteration == 1
    assert "l_d_r1" in module.last_losses and "l_identity" in module.last_losses
    assert all(torch.isfinite(torch.tensor(v)) for v in module.last_losses.values()), module.last_losses
    after = dict(module.named_parameters())
    for prefix in ("net_g.", "net_d.", "net_d_left_eye.", "net_d_mouth."):
        moved = [n for n in before if n.startswith(prefix) and not torch.equal(before[n], after[n])]
        assert moved, f"{prefix} did not change"
        assert all(torch.isfinite(after[n]).all() for n in moved), prefix


def test_resume_is_exact_on_the_test_device(tmp_path: Path) -> None:
    """2 iterations (one epoch of 2 batches) straight == 1 epoch, checkpoint, resume, 1 epoch."""
    torch.manual_seed(0)
    straight = tiny_module(4)
    initial = {k: v.clone() for k, v in straight.state_dict().items()}
    fit(straight, batches(2), "32-true", tmp_path / "a")

    first = tiny_module(2)
    first.load_state_dict(initial)
    trainer = fit(first, batches(2), "32-true", tmp_path / "b")
    trainer.save_checkpoint(tmp_path / "half.ckpt")
    # Checkpoints leave out the frozen loss networks (they come from their files, or, random as here, from the
    # seeded construction, as train.py seeds it): the same seed gives the resumed run the same ones.
    torch.manual_seed(0)
    resumed = tiny_module(4)
    fit(resumed, batches(2), "32-true", tmp_path / "c", ckpt_path=str(tmp_path / "half.ckpt"))
    assert resumed.iteration == 4
    for key, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key
