"""Exports and checkpoints of GFPGANModule load where they must: the official GFPGAN classes and our builder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.configs import tiny_net_g_config
from helpers.reference import import_reference
from hydra.utils import instantiate

from facerevive.archs import FacialComponentDiscriminator, GFPGANv1Clean, StyleGAN2Discriminator
from facerevive.models import GFPGANModule, lazy_r1_adam
from facerevive.utils.files import atomic_torch_save

pytestmark = pytest.mark.parity


def module(**overrides) -> GFPGANModule:
    """A small clean-architecture module (the release layout: channel multiplier 2, latent input) built as Hydra
    builds configs/model; `overrides` replace top-level entries (configs or built objects)."""
    config = {
        "_target_": "facerevive.models.GFPGANModule",
        "_convert_": "all",
        "net_g": tiny_net_g_config(channel_multiplier=2, num_mlp=8, input_is_latent=True),
        "net_d": {"_target_": "facerevive.archs.StyleGAN2Discriminator", "out_size": 64, "narrow": 0.25},
        "optimizer_g": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 2e-3},
        "optimizer_d": {"_target_": "facerevive.models.lazy_r1_adam", "_partial_": True, "lr": 2e-3},
    }
    objects = {key: value for key, value in overrides.items() if not isinstance(value, dict | int | float)}
    config.update({key: value for key, value in overrides.items() if key not in objects})
    return instantiate(config, **objects)


def test_export_loads_strictly_into_the_official_clean_generator(tmp_path: Path) -> None:
    """GFPGANer reads `params_ema` and calls load_state_dict(strict=True) on the official class."""
    clean_arch = import_reference("gfpgan.archs.gfpganv1_clean_arch")
    ours = module()
    with torch.no_grad():
        for p in ours.net_g_ema.parameters():
            p.add_(torch.randn_like(p) * 0.01)  # EMA weights differ from net_g's: the right key must be used
    path = atomic_torch_save(ours.export_official(), tmp_path / "export.pth")
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
        GFPGANModule(
            net_g=GFPGANv1Clean(out_size=64, num_style_feat=64, narrow=0.25),
            net_d=StyleGAN2Discriminator(64, narrow=0.25),
            optimizer_g=torch.optim.Adam,
            optimizer_d=torch.optim.Adam,
            net_d_left_eye=FacialComponentDiscriminator(),
        )


def test_missing_boxes_name_the_fix() -> None:
    ours = module()
    with pytest.raises(KeyError, match="component_path"):
        ours.batch_boxes({"lq": torch.zeros(1)})


def test_pyramid_weight_switches_off_after_the_cutoff() -> None:
    ours = module(
        loss_weights={
            "_target_": "facerevive.models.GFPGANLossWeights",
            "remove_pyramid_after": 10,
            "removed_pyramid": 0,
        }
    )
    assert ours.loss_weights.pyramid_at(10) == 1.0 and ours.loss_weights.pyramid_at(11) == 0.0


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


@pytest.mark.slow
def test_clean_c2_experiment_export_runs_in_the_official_gfpganer(tmp_path: Path, monkeypatch, compose) -> None:
    """The export of `experiment=gfpgan_clean_c2` is a file the official `GFPGANer` takes as `model_path`.

    GFPGANer builds its own v1.2-v1.4 generator (arch 'clean', channel multiplier 2), `torch.load`s the file with
    torch's defaults and loads `params_ema` strictly; its face helper would download detectors, so those two
    constructors are stubbed (aligned input does not use them). Restoring an aligned sample face with the same
    noise gives our restorer's output bit for bit: the experiment builds the network GFPGANer builds, not just
    one with the same keys.
    """
    import cv2

    from facerevive.paths import PROJECT_ROOT
    from facerevive.restore import FaceRestorer

    root = PROJECT_ROOT
    cfg = compose(
        "train.yaml", ["experiment=gfpgan_clean_c2", "model.init.net_identity=null", "model.init.perceptual=null"]
    )
    torch.manual_seed(0)
    ours = instantiate(cfg.model)
    with torch.no_grad():
        for p in ours.net_g_ema.parameters():
            p.add_(torch.randn_like(p) * 0.01)  # EMA weights differ from net_g's: the right key must be used
    path = atomic_torch_save(ours.export_official(), tmp_path / "net_g_export.pth")

    utils = import_reference("gfpgan.utils")
    helper_module = import_reference("facexlib.utils.face_restoration_helper")
    monkeypatch.setattr(helper_module, "init_detection_model", lambda *args, **kwargs: None)
    monkeypatch.setattr(helper_module, "init_parsing_model", lambda *args, **kwargs: None)
    official = utils.GFPGANer(str(path), upscale=1, arch="clean", channel_multiplier=2, device=torch.device("cpu"))

    face = cv2.imread(str(root / "data" / "samples" / "grace_hopper.png"))
    assert face.shape == (512, 512, 3)
    torch.manual_seed(7)  # GFPGANer's forward draws its noise from the global generator
    _, official_faces, _ = official.enhance(face.copy(), has_aligned=True, paste_back=False)
    restored = FaceRestorer(ours.net_g_ema, "cpu").restore([face], seed=7)[0]
    assert restored.std() > 10, "a flat output would not show which weights were used"
    levels = np.abs(restored.astype(np.int32) - official_faces[0].astype(np.int32))
    assert levels.max() == 0, f"{(levels > 0).mean():.2e} of values differ, by up to {levels.max()} levels"


def test_generator_config_travels_without_a_file_path(tmp_path: Path) -> None:
    """net_g records its constructor arguments, no file among them (decoder_load_path is None: files are
    model.init's); the checkpoint and export carry a copy of that record."""
    ours = module()
    expected = tiny_net_g_config(channel_multiplier=2, num_mlp=8, input_is_latent=True, decoder_load_path=None)
    assert ours.net_g.config == expected
    from facerevive.models import generator_config

    copied = generator_config(ours.net_g)
    assert copied == ours.net_g.config and copied is not ours.net_g.config
    export = torch.load(atomic_torch_save(ours.export_official(), tmp_path / "e.pth"), weights_only=True)
    assert export["net_g_config"]["_target_"] == "facerevive.archs.GFPGANv1Clean"


def test_lazy_r1_adam_raises_betas_and_optionally_scales_lr() -> None:
    params = [torch.nn.Parameter(torch.zeros(1))]
    plain = lazy_r1_adam(params, lr=2e-3, betas=(0.0, 0.99), reg_every=16)
    ratio = 16 / 17
    assert plain.defaults["betas"] == (0.0, 0.99**ratio) and plain.defaults["lr"] == 2e-3
    scaled = lazy_r1_adam(params, lr=2e-3, reg_every=16, scale_lr=True)
    assert scaled.defaults["lr"] == pytest.approx(2e-3 * ratio)
    with pytest.raises(ValueError, match="reg_every"):
        lazy_r1_adam(params, lr=1e-3, reg_every=0)


def test_optimisers_are_named_in_checkpoint_order() -> None:
    """g, d, then the three components: the positional order old checkpoints' optimiser states were saved in."""
    components = {f"net_d_{n}": FacialComponentDiscriminator() for n in ("left_eye", "right_eye", "mouth")}
    ours = module(**components, optimizer_component={"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3})
    assert ours.optimizer_names == ("g", "d", "d_left_eye", "d_right_eye", "d_mouth")
    assert module().optimizer_names == ("g", "d")
    optimizers = ours.configure_optimizers()
    assert [len(o.param_groups[0]["params"]) for o in optimizers[2:]] == [
        len(list(components[f"net_d_{n}"].parameters())) for n in ("left_eye", "right_eye", "mouth")
    ]
