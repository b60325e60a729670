"""GFPGAN loss functions against BasicSR's (the official training losses) on identical inputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torchvision
from helpers.compare import assert_close_to_peak
from helpers.reference import import_reference

from facerevive.losses import (
    GANLoss,
    PerceptualLoss,
    component_style_loss,
    gray_for_identity,
    image_pyramid,
    l1,
    r1_penalty,
)
from facerevive.models.init_weights import load_network

pytestmark = pytest.mark.parity

LAYERS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}


@pytest.mark.parametrize("gan_type", ["vanilla", "wgan_softplus"])
@pytest.mark.parametrize("target_is_real", [True, False])
@pytest.mark.parametrize("is_disc", [True, False])
def test_gan_loss_matches_basicsr(gan_type: str, target_is_real: bool, is_disc: bool) -> None:
    gan_loss = import_reference("basicsr.losses.gan_loss")
    pred = torch.randn(3, 1, 5, 5)
    reference = gan_loss.GANLoss(gan_type, real_label_val=1.0, fake_label_val=0.0, loss_weight=0.1)
    ours = GANLoss(gan_type, real_label_val=1.0, fake_label_val=0.0, loss_weight=0.1)
    assert_close_to_peak(ours(pred, target_is_real, is_disc), reference(pred, target_is_real, is_disc), rel=1e-6)


def test_gan_loss_rejects_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown gan_type 'hinge'"):
        GANLoss("hinge")


def test_r1_penalty_matches_basicsr() -> None:
    gan_loss = import_reference("basicsr.losses.gan_loss")
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Softplus(), torch.nn.Flatten(), torch.nn.LazyLinear(1))
    img = torch.randn(2, 3, 8, 8, requires_grad=True)
    pred = net(img)
    ours = r1_penalty(pred, img)
    reference = gan_loss.r1_penalty(net(img), img)
    assert_close_to_peak(ours, reference, rel=1e-6)
    ours.backward()  # the graph is kept for D's update
    assert net[0].weight.grad is not None


@pytest.mark.parametrize(
    "layers", [LAYERS, {**LAYERS, "conv4_4": 0.0, "conv5_4": 0.0}], ids=["paper", "deepest-two-off"]
)
def test_perceptual_and_style_match_basicsr(tmp_path: Path, layers: dict[str, float]) -> None:
    """Both terms and their gradient as BasicSR computes them; a zero-weighted layer (BasicSR computes it and adds
    0) is not computed by ours: the VGG ends at the deepest weighted layer."""
    basic_loss = import_reference("basicsr.losses.basic_loss")
    vgg_file = tmp_path / "experiments" / "pretrained_models" / "vgg19-dcbb9e9d.pth"
    vgg_file.parent.mkdir(parents=True)
    torch.save(torchvision.models.vgg19(weights=None).state_dict(), vgg_file)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # basicsr reads the VGG weights relative to the working directory
    try:
        reference = basic_loss.PerceptualLoss(
            layers, vgg_type="vgg19", use_input_norm=True, range_norm=True, perceptual_weight=1.0, style_weight=50
        )
    finally:
        os.chdir(cwd)
    ours = PerceptualLoss(layers, range_norm=True, perceptual_weight=1.0, style_weight=50)
    load_network(ours.vgg.vgg_net, str(vgg_file), "model.init.perceptual", "perceptual")
    deepest = max(name for name, weight in layers.items() if weight)
    assert list(ours.vgg.vgg_net.named_children())[-1][0] == deepest
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    gt = torch.rand(2, 3, 64, 64) * 2 - 1
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    (p_ours, s_ours), (p_ref, s_ref) = ours(x_ours, gt), reference(x_ref, gt)
    assert_close_to_peak(p_ours, p_ref, rel=1e-6, what="perceptual")
    assert_close_to_peak(s_ours, s_ref, rel=1e-6, what="style")
    (p_ours + s_ours).backward()
    (p_ref + s_ref).backward()
    assert_close_to_peak(x_ours.grad, x_ref.grad, rel=1e-6, what="gradient")
    assert not any(p.requires_grad for p in ours.parameters())


def test_face_loss_pieces_match_the_official_model_helpers() -> None:
    """Gray resize, GT pyramid and component style against GFPGANModel's own methods."""
    gfpgan_model = import_reference("gfpgan.models.gfpgan_model")
    official = gfpgan_model.GFPGANModel.__new__(gfpgan_model.GFPGANModel)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    assert_close_to_peak(gray_for_identity(x), official.gray_resize_for_identity(x), rel=0, what="gray")
    official.gt, official.log_size = x, 6
    for ours, theirs in zip(image_pyramid(x, 4), official.construct_img_pyramid(), strict=True):
        assert_close_to_peak(ours, theirs, rel=0, what="pyramid")
    assert_close_to_peak(l1(x, x.flip(0)), import_reference("basicsr.losses.basic_loss").L1Loss()(x, x.flip(0)), rel=0)
    fake = [torch.randn(2, 8, 10, 10), torch.randn(2, 16, 5, 5)]
    real = [torch.randn(2, 8, 10, 10), torch.randn(2, 16, 5, 5)]
    gram, criterion = official._gram_mat, import_reference("basicsr.losses.basic_loss").L1Loss()
    expected = criterion(gram(fake[0]), gram(real[0])) * 0.5 + criterion(gram(fake[1]), gram(real[1]))
    assert_close_to_peak(component_style_loss(fake, real), expected, rel=0, what="component style")
