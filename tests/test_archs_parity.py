"""Every network against the official TencentARC/GFPGAN and BasicSR class: same weights, same input, same noise.

Both directions are checked: official weights loaded into FaceRevive, and FaceRevive weights loaded into the
official class, each with `strict=True`.
"""

from __future__ import annotations

import pytest
import torch
from helpers.compare import TEST_DEVICE, assert_close_to_peak
from helpers.reference import import_reference

import facerevive.archs as ours
from facerevive.models.init_weights import load_network

pytestmark = pytest.mark.parity

REL = 1e-5


def _official(module: str, name: str):
    return getattr(import_reference(module), name)


def _pair(official_cls, our_cls, direction: str, *args, **kwargs):
    """Build both networks, the source one from a seed, and copy its state dict into the other (strict)."""
    torch.manual_seed(123)
    if direction == "official->ours":
        source, target = official_cls(*args, **kwargs), our_cls(*args, **kwargs)
    else:
        source, target = our_cls(*args, **kwargs), official_cls(*args, **kwargs)
    target.load_state_dict(source.state_dict(), strict=True)
    official, mine = (source, target) if direction == "official->ours" else (target, source)
    return official.to(TEST_DEVICE).eval(), mine.to(TEST_DEVICE).eval()


def _run_both(official, mine, *inputs, **kwargs):
    with torch.no_grad():
        torch.manual_seed(7)
        expected = official(*inputs, **kwargs)
        torch.manual_seed(7)
        actual = mine(*inputs, **kwargs)
    return expected, actual


DIRECTIONS = ["official->ours", "ours->official"]

GFPGAN_CLASSES = {
    "GFPGANv1": ("gfpgan.archs.gfpganv1_arch", ours.GFPGANv1),
    "GFPGANv1Clean": ("gfpgan.archs.gfpganv1_clean_arch", ours.GFPGANv1Clean),
    "GFPGANBilinear": ("gfpgan.archs.gfpgan_bilinear_arch", ours.GFPGANBilinear),
}

# (out_size, channel_multiplier, narrow, sft_half, different_w, input_is_latent, num_style_feat)
SMALL_GFPGAN_CONFIGS = [
    (32, 1, 0.25, True, True, True, 64),
    (64, 2, 0.25, True, True, True, 64),
    (64, 1, 0.25, False, False, False, 64),
    (128, 1, 0.125, True, True, True, 32),
]


def _gfpgan_kwargs(config) -> dict:
    out_size, cm, narrow, sft_half, different_w, input_is_latent, nsf = config
    return {
        "out_size": out_size,
        "num_style_feat": nsf,
        "channel_multiplier": cm,
        "narrow": narrow,
        "sft_half": sft_half,
        "different_w": different_w,
        "input_is_latent": input_is_latent,
        "num_mlp": 2 if not input_is_latent else 8,
    }


def _check_gfpgan(name: str, direction: str, kwargs: dict, batch: int, randomize_noise: bool) -> None:
    module, our_cls = GFPGAN_CLASSES[name]
    official, mine = _pair(_official(module, name), our_cls, direction, **kwargs)
    size = kwargs["out_size"]
    x = torch.rand(batch, 3, size, size, device=TEST_DEVICE) * 2 - 1
    (img_ref, rgbs_ref), (img, rgbs) = _run_both(official, mine, x, return_rgb=True, randomize_noise=randomize_noise)
    assert_close_to_peak(img, img_ref, REL, f"{name} image")
    assert len(rgbs) == len(rgbs_ref) == kwargs["out_size"].bit_length() - 3
    for level, (rgb, rgb_ref) in enumerate(zip(rgbs, rgbs_ref)):
        assert_close_to_peak(rgb, rgb_ref, REL, f"{name} out_rgbs[{level}]")


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("config", SMALL_GFPGAN_CONFIGS, ids=lambda c: f"s{c[0]}-cm{c[1]}-half{int(c[3])}")
@pytest.mark.parametrize("name", list(GFPGAN_CLASSES))
def test_gfpgan_small(name, config, direction):
    _check_gfpgan(name, direction, _gfpgan_kwargs(config), batch=2, randomize_noise=True)


@pytest.mark.parametrize("name", list(GFPGAN_CLASSES))
def test_gfpgan_stored_noise_and_latents(name):
    """randomize_noise=False uses the registered noise buffers, which travel with the state dict."""
    kwargs = _gfpgan_kwargs(SMALL_GFPGAN_CONFIGS[1])
    module, our_cls = GFPGAN_CLASSES[name]
    official, mine = _pair(_official(module, name), our_cls, "official->ours", **kwargs)
    x = torch.rand(3, 3, 64, 64, device=TEST_DEVICE) * 2 - 1
    (img_ref, _), (img, _) = _run_both(official, mine, x, randomize_noise=False, return_rgb=False)
    assert_close_to_peak(img, img_ref, REL, f"{name} image (stored noise)")
    with torch.no_grad():
        again, _ = mine(x, randomize_noise=False, return_rgb=False)
    assert torch.equal(again, img), "stored noise must make the forward deterministic"
    decoder = mine.stylegan_decoder
    stored = [getattr(decoder.noises, f"noise{i}") for i in range(decoder.num_layers)]
    with torch.no_grad():
        explicit, _ = mine(x, noise=stored, return_rgb=False)
    assert torch.equal(explicit, img), "explicit noise maps must reach the decoder"


def test_gfpgan_gradients_match():
    """One backward pass gives the same parameter gradients (the training step relies on it)."""
    kwargs = _gfpgan_kwargs(SMALL_GFPGAN_CONFIGS[0])
    official, mine = _pair(
        _official(*[GFPGAN_CLASSES["GFPGANv1"][0], "GFPGANv1"]), ours.GFPGANv1, "official->ours", **kwargs
    )
    x = torch.rand(2, 3, 32, 32, device=TEST_DEVICE) * 2 - 1
    for net in (official, mine):
        torch.manual_seed(3)
        image, rgbs = net(x)
        (image.square().mean() + sum(r.abs().mean() for r in rgbs)).backward()
    grads_ref = dict(official.named_parameters())
    for name, param in mine.named_parameters():
        if param.grad is None:
            assert grads_ref[name].grad is None, f"{name}: no gradient in FaceRevive"
            continue
        assert_close_to_peak(param.grad, grads_ref[name].grad, REL, f"grad {name}")


FULL_SIZE = {
    "GFPGANv1": {"channel_multiplier": 1},
    "GFPGANv1Clean": {"channel_multiplier": 2},
    "GFPGANBilinear": {"channel_multiplier": 2},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(GFPGAN_CLASSES))
def test_gfpgan_release_configuration_512(name):
    """The exact GFPGANer configurations of the released models (v1: cm 1; v1.2-1.4 clean: cm 2) at 512."""
    kwargs = {
        "out_size": 512,
        "num_style_feat": 512,
        "num_mlp": 8,
        "input_is_latent": True,
        "different_w": True,
        "narrow": 1,
        "sft_half": True,
        **FULL_SIZE[name],
    }
    _check_gfpgan(name, "official->ours", kwargs, batch=1, randomize_noise=True)


def test_gfpgan_v14_parameter_count():
    net = ours.GFPGANv1Clean(
        out_size=512,
        num_style_feat=512,
        channel_multiplier=2,
        decoder_load_path=None,
        fix_decoder=False,
        num_mlp=8,
        input_is_latent=True,
        different_w=True,
        narrow=1,
        sft_half=True,
    )
    assert sum(p.numel() for p in net.parameters()) == 86_444_252


STYLEGAN_GENERATORS = {
    "StyleGAN2Generator": (
        "basicsr.archs.stylegan2_arch",
        ours.StyleGAN2Generator,
        {"channel_multiplier": 1},
    ),
    "StyleGAN2GeneratorClean": (
        "gfpgan.archs.stylegan2_clean_arch",
        ours.StyleGAN2GeneratorClean,
        {"channel_multiplier": 2},
    ),
    "StyleGAN2GeneratorBilinear": (
        "gfpgan.archs.stylegan2_bilinear_arch",
        ours.StyleGAN2GeneratorBilinear,
        {"channel_multiplier": 1},
    ),
}


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("name", list(STYLEGAN_GENERATORS))
def test_stylegan2_generators(name, direction):
    module, our_cls, extra = STYLEGAN_GENERATORS[name]
    official, mine = _pair(_official(module, name), our_cls, direction, 64, num_style_feat=64, narrow=0.25, **extra)
    z = torch.randn(2, 64, device=TEST_DEVICE)
    z2 = torch.randn(2, 64, device=TEST_DEVICE)
    noise = official.make_noise()
    cases = {
        "mapped": ([z], {}),
        "latent": ([z], {"input_is_latent": True}),
        "mixing": ([z, z2], {"inject_index": 5}),
        "truncation": ([z], {"truncation": 0.7, "truncation_latent": z2[:1]}),
        "given noise": ([z], {"noise": noise}),
        "stored noise": ([z], {"randomize_noise": False, "return_latents": True}),
    }
    for case, (styles, kwargs) in cases.items():
        (img_ref, latent_ref), (img, latent) = _run_both(official, mine, styles, **kwargs)
        assert_close_to_peak(img, img_ref, REL, f"{name} [{case}]")
        if latent_ref is not None:
            assert_close_to_peak(latent, latent_ref, REL, f"{name} latents [{case}]")


@pytest.mark.slow
def test_stylegan2_prior_configuration_512():
    """The configuration of StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth (the GFPGANv1 decoder)."""
    official, mine = _pair(
        _official("basicsr.archs.stylegan2_arch", "StyleGAN2Generator"),
        ours.StyleGAN2Generator,
        "official->ours",
        512,
        num_style_feat=512,
        num_mlp=8,
        channel_multiplier=1,
    )
    z = torch.randn(1, 512, device=TEST_DEVICE)
    (img_ref, _), (img, _) = _run_both(official, mine, [z])
    assert_close_to_peak(img, img_ref, REL, "StyleGAN2Generator 512")


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("size,cm,narrow,batch", [(64, 1, 0.25, 4), (128, 2, 0.125, 3), (32, 1, 0.5, 2)])
def test_stylegan2_discriminator(size, cm, narrow, batch, direction):
    official, mine = _pair(
        _official("basicsr.archs.stylegan2_arch", "StyleGAN2Discriminator"),
        ours.StyleGAN2Discriminator,
        direction,
        size,
        channel_multiplier=cm,
        narrow=narrow,
    )
    x = torch.randn(batch, 3, size, size, device=TEST_DEVICE)
    expected, actual = _run_both(official, mine, x)
    assert_close_to_peak(actual, expected, REL, "StyleGAN2Discriminator")


@pytest.mark.slow
def test_stylegan2_discriminator_training_configuration_512():
    """network_d of train_gfpgan_v1.yml: 512, channel multiplier 1, batch 3 (stddev group 3)."""
    official, mine = _pair(
        _official("basicsr.archs.stylegan2_arch", "StyleGAN2Discriminator"),
        ours.StyleGAN2Discriminator,
        "official->ours",
        512,
        channel_multiplier=1,
    )
    x = torch.randn(3, 3, 512, 512, device=TEST_DEVICE)
    expected, actual = _run_both(official, mine, x)
    assert_close_to_peak(actual, expected, REL, "StyleGAN2Discriminator 512")


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("crop", [80, 120])
def test_facial_component_discriminator(crop, direction):
    """Eye crops are 80x80 and mouth crops 120x120 at 512."""
    official, mine = _pair(
        _official("gfpgan.archs.gfpganv1_arch", "FacialComponentDiscriminator"),
        ours.FacialComponentDiscriminator,
        direction,
    )
    x = torch.randn(2, 3, crop, crop, device=TEST_DEVICE)
    (out_ref, feats_ref), (out, feats) = _run_both(official, mine, x, return_feats=True)
    assert_close_to_peak(out, out_ref, REL, "patch logits")
    assert out.shape[-1] == crop // 4
    assert [f.shape[1] for f in feats] == [128, 256]
    for level, (feat, feat_ref) in enumerate(zip(feats, feats_ref)):
        assert_close_to_peak(feat, feat_ref, REL, f"feature {level}")
    (out_ref, none_ref), (out, none) = _run_both(official, mine, x)
    assert none is None and none_ref is None


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("use_se", [False, True])
def test_resnet_arcface(use_se, direction):
    """network_identity of train_gfpgan_v1.yml (IRBlock, [2,2,2,2]) on gray 128x128, eval and train mode."""
    official, mine = _pair(
        _official("gfpgan.archs.arcface_arch", "ResNetArcFace"),
        ours.ResNetArcFace,
        direction,
        "IRBlock",
        [2, 2, 2, 2],
        use_se=use_se,
    )
    x = torch.randn(4, 1, 128, 128, device=TEST_DEVICE)
    expected, actual = _run_both(official, mine, x)
    assert actual.shape == (4, 512)
    assert_close_to_peak(actual, expected, REL, "ArcFace embedding (eval)")
    official.train()
    mine.train()
    expected, actual = _run_both(official, mine, x)
    assert_close_to_peak(actual, expected, REL, "ArcFace embedding (train)")


LAYERS = ["conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4"]


@pytest.mark.parametrize("range_norm", [True, False])
def test_vgg_feature_extractor(tmp_path, monkeypatch, range_norm):
    """The perceptual-loss VGG19 (layers before ReLU) against BasicSR's, both from the same torchvision weights."""
    import torchvision

    torch.manual_seed(5)
    weights = tmp_path / "experiments" / "pretrained_models" / "vgg19-dcbb9e9d.pth"
    weights.parent.mkdir(parents=True)
    torch.save(torchvision.models.vgg19(weights=None).state_dict(), weights)
    monkeypatch.chdir(tmp_path)  # BasicSR reads that path relative to the working directory
    official = _official("basicsr.archs.vgg_arch", "VGGFeatureExtractor")(
        LAYERS, vgg_type="vgg19", use_input_norm=True, range_norm=range_norm
    )
    mine = ours.VGGFeatureExtractor(LAYERS, vgg_type="vgg19", use_input_norm=True, range_norm=range_norm)
    load_network(mine.vgg_net, str(weights), "model.init.perceptual", "perceptual")
    assert list(mine.state_dict()) == list(official.state_dict())
    x = torch.rand(2, 3, 96, 96) * 2 - 1
    expected, actual = _run_both(official.to(TEST_DEVICE), mine.to(TEST_DEVICE), x.to(TEST_DEVICE))
    assert set(actual) == set(LAYERS)
    for layer in LAYERS:
        assert_close_to_peak(actual[layer], expected[layer], REL, f"VGG19 {layer}")
    assert not any(p.requires_grad for p in mine.parameters())


@pytest.mark.parametrize(
    "up,down,pad,taps",
    [
        (1, 1, (2, 1), (1, 3, 3, 1)),
        (2, 1, (2, 1), (1, 3, 3, 1)),
        (1, 2, (1, 1), (1, 3, 3, 1)),
        (1, 1, (-1, 2), (1, 2, 1)),
        (2, 2, (0, -1), (1, 3, 3, 1)),
        (1, 1, (1, 1), ((1.0, 2.0, 0.5), (0.0, 1.0, 3.0), (2.0, 1.0, 1.0))),
    ],
)
def test_upfirdn2d_matches_native(up, down, pad, taps):
    """FaceRevive's grouped-conv upfirdn2d against BasicSR's native version, forward and gradient."""
    from facerevive.archs.ops import make_resample_kernel, upfirdn2d

    native = import_reference("basicsr.ops.upfirdn2d.upfirdn2d").upfirdn2d_native
    kernel = make_resample_kernel(taps).to(TEST_DEVICE)
    x = torch.randn(2, 5, 17, 19, device=TEST_DEVICE, requires_grad=True)
    expected = native(x, kernel, up, up, down, down, pad[0], pad[1], pad[0], pad[1])
    actual = upfirdn2d(x, kernel, up=up, down=down, pad=pad)
    assert_close_to_peak(actual, expected, REL, "upfirdn2d")
    weight = torch.randn_like(expected)
    (grad_ref,) = torch.autograd.grad((expected * weight).sum(), x)
    (grad,) = torch.autograd.grad((actual * weight).sum(), x)
    assert_close_to_peak(grad, grad_ref, REL, "upfirdn2d gradient")


def test_fused_leaky_relu_matches_reference_formula():
    from facerevive.archs.ops import FusedLeakyReLU

    fused_act = import_reference("basicsr.ops.fused_act")
    official, mine = fused_act.FusedLeakyReLU(6), FusedLeakyReLU(6)
    with torch.no_grad():
        official.bias.normal_()
    mine.load_state_dict(official.state_dict(), strict=True)
    for shape in [(3, 6), (2, 6, 5, 5)]:
        x = torch.randn(*shape)
        assert_close_to_peak(mine(x), official(x), REL, f"fused leaky relu {shape}")


@pytest.mark.parametrize("name", list(GFPGAN_CLASSES))
def test_channels_last_gives_the_same_restoration(name):
    """A channels_last input (what image pipelines often hand over) must not change the result."""
    kwargs = _gfpgan_kwargs(SMALL_GFPGAN_CONFIGS[1])
    torch.manual_seed(0)
    net = GFPGANV_CLASSES_OURS[name](**kwargs).to(TEST_DEVICE).eval()
    x = torch.rand(2, 3, 64, 64, device=TEST_DEVICE) * 2 - 1
    with torch.no_grad():
        expected, _ = net(x, randomize_noise=False)
        actual, _ = net(x.contiguous(memory_format=torch.channels_last), randomize_noise=False)
    assert_close_to_peak(actual, expected, REL, f"{name} channels_last")


GFPGANV_CLASSES_OURS = {name: cls for name, (_, cls) in GFPGAN_CLASSES.items()}
