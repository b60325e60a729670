"""Exports and checkpoints of GFPGANModule load where they must: the official GFPGAN classes and our builder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.reference import import_reference

from facerevive.models import GFPGANModule, atomic_save

CLEAN = {
    "_target_": "facerevive.archs.GFPGANv1Clean",
    "out_size": 64,
    "num_style_feat": 64,
    "channel_multiplier": 2,
    "decoder_load_path": None,
    "fix_decoder": False,
    "num_mlp": 8,
    "input_is_latent": True,
    "different_w": True,
    "narrow": 0.25,
    "sft_half": True,
}


def module(**overrides) -> GFPGANModule:
    config = {
        "net_g": dict(CLEAN),
        "net_d": {"_target_": "facerevive.archs.StyleGAN2Discriminator", "out_size": 64, "narrow": 0.25},
        "optimizer_g": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 2e-3},
        "optimizer_d": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 2e-3},
        **overrides,
    }
    return GFPGANModule(**config)


def test_export_loads_strictly_into_the_official_clean_generator(tmp_path: Path) -> None:
    """GFPGANer reads `params_ema` and calls load_state_dict(strict=True) on the official class."""
    clean_arch = import_reference("gfpgan.archs.gfpganv1_clean_arch")
    ours = module()
    with torch.no_grad():
        for p in ours.net_g_ema.parameters():
            p.add_(torch.randn_like(p) * 0.01)  # EMA weights differ from net_g's: the right key must be used
    path = atomic_save(ours.export_official(), tmp_path / "export.pth")
    export = torch.load(path, map_location="cpu", weights_only=True)
    kwargs = {k: v for k, v in export["net_g_config"].items() if k != "_target_"}
    official = clean_arch.GFPGANv1Clean(**kwargs)
    official.load_state_dict(export["params_ema"], strict=True)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    ours.net_g_ema.eval()
    with torch.no_grad():
        expected, _ = ours.net_g_ema(x, randomize_noise=False)
        restored, _ = official(x, randomize_noise=False)
    torch.testing.assert_close(restored, expected, rtol=1e-5, atol=1e-6)


def test_component_config_must_be_complete() -> None:
    with pytest.raises(ValueError, match="all three component discriminators"):
        module(net_d_left_eye={"_target_": "facerevive.archs.FacialComponentDiscriminator"})


def test_missing_boxes_name_the_fix() -> None:
    ours = module()
    with pytest.raises(KeyError, match="component_path"):
        ours.batch_boxes({"lq": torch.zeros(1)})


def test_pyramid_weight_switches_off_after_the_cutoff() -> None:
    ours = module(remove_pyramid_loss=10, removed_pyramid_weight=0.0)
    assert ours.pyramid_weight(10) == 1.0 and ours.pyramid_weight(11) == 0.0


def test_frozen_networks_stay_in_eval_mode() -> None:
    ours = module(
        net_identity={"_target_": "facerevive.archs.ResNetArcFace", "use_se": False},
        perceptual={"_target_": "facerevive.losses.PerceptualLoss", "layer_weights": {"conv1_2": 1.0}},
    )
    ours.train()
    assert ours.net_g.training and not ours.net_g_ema.training
    assert not ours.net_identity.training and not ours.perceptual.vgg.training
    assert not any(p.requires_grad for m in ours.frozen_modules() for p in m.parameters())


def test_validation_logs_psnr_and_l1_of_the_ema_generator() -> None:
    import lightning as L

    ours = module()
    gt = torch.rand(2, 3, 64, 64) * 2 - 1
    batch = {"lq": gt.clamp(-0.5, 0.5), "gt": gt}
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    (metrics,) = trainer.validate(ours, torch.utils.data.DataLoader([batch], batch_size=None), verbose=False)
    with torch.no_grad():
        output, _ = ours.net_g_ema(batch["lq"], return_rgb=False, randomize_noise=False)
    expected_l1 = ((output + 1) / 2).clamp(0, 1).sub((gt + 1) / 2).abs().mean().item()
    assert metrics["val/l1"] == pytest.approx(expected_l1, rel=1e-5)
    assert metrics["val/l1_input"] == pytest.approx(((batch["lq"] - gt).abs().mean() / 2).item(), rel=1e-5)
    assert "val/psnr" in metrics
