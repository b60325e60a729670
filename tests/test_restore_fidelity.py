"""The fidelity knob at both ends, against the official GFPGANv1Clean (same weights, fixed noise)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.compare import assert_close_to_peak
from helpers.reference import import_reference

from facerevive.archs import GFPGANv1Clean
from facerevive.restore import FaceRestorer

pytestmark = pytest.mark.parity

CONFIG = dict(
    out_size=64,
    num_style_feat=64,
    channel_multiplier=1,
    decoder_load_path=None,
    fix_decoder=False,
    num_mlp=8,
    input_is_latent=True,
    different_w=True,
    narrow=0.5,
    sft_half=True,
)


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    ours = GFPGANv1Clean(**CONFIG).eval()
    with torch.no_grad():
        for param in ours.parameters():
            if param.numel() == 1:
                param.copy_(torch.randn(()) * 0.3)
        # Push the SFT heads away from identity so that the modulation visibly matters.
        for head in list(ours.condition_scale) + list(ours.condition_shift):
            head[-1].weight.mul_(5)
    official = import_reference("gfpgan.archs.gfpganv1_clean_arch").GFPGANv1Clean(**CONFIG).eval()
    official.load_state_dict(ours.state_dict(), strict=True)
    return ours, official


@pytest.fixture(scope="module")
def faces():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    return [np.kron(face, np.ones((8, 8, 1), np.uint8)) for face in base]  # blocky 64x64 "faces"


def to_input(faces: list[np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(np.stack(faces)).permute(0, 3, 1, 2).flip(1).float() / 255.0
    return ((x - 0.5) / 0.5).contiguous()


def to_uint8(image: torch.Tensor) -> np.ndarray:
    image = ((image.clamp(-1, 1) + 1) / 2 * 255.0).round().to(torch.uint8)
    return image.flip(1).permute(0, 2, 3, 1).numpy()


def prior_only(official, x: torch.Tensor) -> torch.Tensor:
    """The official decoder driven by the official encoder's latent codes, with no SFT conditions at all."""
    feat = F.leaky_relu(official.conv_body_first(x), negative_slope=0.2)
    for down in official.conv_body_down:
        feat = down(feat)
    feat = F.leaky_relu(official.final_conv(feat), negative_slope=0.2)
    style_code = official.final_linear(feat.view(feat.size(0), -1)).view(feat.size(0), -1, official.num_style_feat)
    return official.stylegan_decoder([style_code], [], input_is_latent=True, randomize_noise=False)[0]


@torch.no_grad()
def test_fidelity_one_is_the_standard_output(nets, faces):
    ours, official = nets
    reference = official(to_input(faces), return_rgb=False, randomize_noise=False)[0]
    restored = FaceRestorer(ours, "cpu", batch_size=2, noise="fixed").restore(faces, fidelity=1.0)
    assert_close_to_peak(
        torch.from_numpy(np.stack(restored)).float(), torch.from_numpy(to_uint8(reference)).float(), rel=1 / 255
    )
    assert_close_to_peak(ours(to_input(faces), randomize_noise=False, fidelity=1.0)[0], reference, rel=1e-5)


@torch.no_grad()
def test_fidelity_zero_is_the_prior_driven_by_the_latent_codes(nets, faces):
    ours, official = nets
    reference = prior_only(official, to_input(faces))
    assert_close_to_peak(ours(to_input(faces), randomize_noise=False, fidelity=0.0)[0], reference, rel=1e-5)
    restored = FaceRestorer(ours, "cpu", batch_size=2, noise="fixed").restore(faces, fidelity=0.0)
    diff = np.abs(np.stack(restored).astype(int) - to_uint8(reference)).max()
    assert diff <= 1


@torch.no_grad()
def test_intermediate_fidelity_lies_between(nets, faces):
    ours, _ = nets
    x = to_input(faces)
    outputs = [ours(x, randomize_noise=False, fidelity=f)[0] for f in (0.0, 0.5, 1.0)]
    assert (outputs[0] - outputs[2]).abs().max() > 0.05, "the SFT modulation should matter for this network"
    assert (outputs[1] - outputs[0]).abs().max() > 1e-3
    assert (outputs[1] - outputs[2]).abs().max() > 1e-3


def test_fidelity_outside_range_is_rejected(nets):
    restorer = FaceRestorer(nets[0], "cpu")
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"^fidelity=.*: allowed values are within \[0, 1\]"):
            restorer.restore([], fidelity=bad)


def test_fidelity_strip_tiles(nets):
    from facerevive.restore.strip import fidelity_strip

    face = np.kron(np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))
    strip = fidelity_strip(nets[0], face, (0.0, 1.0), tile=64, note="RANDOM WEIGHTS")
    assert strip.shape == (30 + 2 * (28 + 64), 3 * 64, 3)
    diff_row = strip[30 + 28 + 64 + 28 :]
    assert diff_row[:, 64:128].max() > 0, "fidelity 0 must differ from fidelity 1"
    assert diff_row[:, 128:].max() == 0, "fidelity 1 against itself"
