"""Parity of the whole-photo pipeline with the official GFPGANer (gfpgan 1.3.8 + facexlib 0.3.0).

Same generator weights, same landmarks, same noise seed: the aligned crops, the restored faces and the pasted-back
photo must equal the official ones within 1/255, with the square soft mask and with the parsing mask.

Speed: the official helper hard-codes 512 crops, so the generator is a GFPGANv1Clean at out_size 512 with a
narrow width (the official class, built through `gfpgan.utils`, receives the same narrow width). facexlib's
FaceRestoreHelper downloads its detector and ParseNet in __init__; both loaders are replaced here: the detector by
one returning fixed detections, the parser by a small random parsing network shared with our pipeline (the
parity under test is the mask pipeline around the parser: labels -> colour map -> blurs -> border -> warp -> blend;
facexlib's random-initialised ParseNet takes ~7 s per face on a CPU).
"""

from __future__ import annotations

import cv2
import matplotlib.cbook
import numpy as np
import pytest
import skimage.data
import torch
from helpers.compare import PARITY_RECORDS
from helpers.reference import import_reference

from facerevive.archs import GFPGANv1Clean
from facerevive.restore import FaceRestorer, RestorePipeline, TinyRetinaFaceDetector, photo_from_array
from facerevive.restore.pasteback import FaceParser

pytestmark = pytest.mark.parity

NARROW = 0.125
UPSCALE = 2
SEED = 1234


def group_photo() -> np.ndarray:
    """Two public-domain portraits (scikit-image's astronaut, matplotlib's Grace Hopper) side by side, BGR."""
    astronaut = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    hopper = cv2.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    canvas = np.full((600, 1064, 3), 200, np.uint8)
    canvas[:512, :512] = astronaut
    canvas[:, 552:] = hopper
    return canvas


class StandInParser(torch.nn.Module):
    """A one-layer parsing network with ParseNet's interface: (B,3,512,512) -> ((B,19,512,512) logits, image)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 19, 5, padding=2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.conv(torch.nn.functional.avg_pool2d(x, 9, stride=1, padding=4)), x


class FixedDetector:
    """Stands in for facexlib's RetinaFace: returns the same detections for any image."""

    name = "fixed"

    def __init__(self, detections: np.ndarray) -> None:
        self.detections = detections

    def detect(self, image: np.ndarray) -> np.ndarray:
        return self.detections.copy()

    def detect_faces(self, image: np.ndarray, *_threshold: float) -> np.ndarray:
        """facexlib's detector call; its threshold argument does not apply to fixed detections."""
        return self.detections.copy()


def record(what: str, ours: np.ndarray, reference: np.ndarray) -> int:
    """Largest difference in 8-bit levels; logged in the parity summary as a fraction of 255."""
    import os

    assert ours.shape == reference.shape, f"{what}: shape {ours.shape} != {reference.shape}"
    diff = int(np.abs(ours.astype(np.int32) - reference.astype(np.int32)).max())
    test_id = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    PARITY_RECORDS.append((test_id, what, diff / 255.0))
    return diff


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.manual_seed(0)
    config = dict(
        out_size=512,
        num_style_feat=512,
        channel_multiplier=1,
        decoder_load_path=None,
        fix_decoder=False,
        num_mlp=8,
        input_is_latent=True,
        different_w=True,
        narrow=NARROW,
        sft_half=True,
    )
    net = GFPGANv1Clean(**config)
    with torch.no_grad():
        for param in net.parameters():
            if param.numel() == 1:  # noise strengths start at 0: make the seeded noise matter
                param.copy_(torch.randn(()) * 0.3)
    path = tmp_path_factory.mktemp("weights") / "net.pth"
    torch.save({"params_ema": net.state_dict()}, path)

    parsenet = StandInParser().eval()
    image = group_photo()
    detections = TinyRetinaFaceDetector().detect(image)
    assert len(detections) == 2, f"expected the two portraits to be detected, got {len(detections)}"
    return net, path, parsenet, image, detections


@pytest.fixture
def official(setup, monkeypatch):
    _, path, parsenet, _, detections = setup
    utils = import_reference("gfpgan.utils")
    helper_module = import_reference("facexlib.utils.face_restoration_helper")
    monkeypatch.setattr(helper_module, "init_detection_model", lambda *a, **k: FixedDetector(detections))
    monkeypatch.setattr(helper_module, "init_parsing_model", lambda *a, **k: parsenet)

    def narrow_clean(**kwargs):
        return utils_clean(**{**kwargs, "narrow": NARROW})

    utils_clean = utils.GFPGANv1Clean
    monkeypatch.setattr(utils, "GFPGANv1Clean", narrow_clean)
    restorer = utils.GFPGANer(
        str(path), upscale=UPSCALE, arch="clean", channel_multiplier=1, bg_upsampler=None, device=torch.device("cpu")
    )
    return restorer


def ours(setup, use_parse: bool, batch_size: int = 2):
    net, _, parsenet, _, detections = setup
    restorer = FaceRestorer(net, "cpu", batch_size=batch_size, noise="random")
    parser = FaceParser("cpu", model=parsenet) if use_parse else None
    return RestorePipeline(restorer, FixedDetector(detections), upscale=UPSCALE, parser=parser)


@pytest.mark.parametrize("use_parse", [False, True], ids=["square_mask", "parsing_mask"])
def test_pipeline_matches_gfpganer(setup, official, use_parse):
    image = setup[3]
    official.face_helper.use_parse = use_parse
    torch.manual_seed(SEED)  # the official forward draws its StyleGAN2 noise from the global generator
    ref_crops, ref_faces, ref_image = official.enhance(image.copy(), has_aligned=False, paste_back=True)

    result = ours(setup, use_parse).enhance(photo_from_array(image.copy()), seed=SEED)

    assert len(result.cropped_faces) == len(ref_crops) == 2
    for index, (crop, ref) in enumerate(zip(result.cropped_faces, ref_crops)):
        assert record(f"aligned crop {index}", crop, ref) == 0
    for index, (face, ref) in enumerate(zip(result.restored_faces, ref_faces)):
        assert record(f"restored face {index}", face, ref) <= 1
    assert record("pasted-back photo", result.restored, ref_image) <= 1
    # The faces must really have changed the photo (the comparison is not background against background).
    background = cv2.resize(image, ref_image.shape[1::-1], interpolation=cv2.INTER_LANCZOS4)
    assert np.abs(ref_image.astype(int) - background).max() > 50


@pytest.fixture(scope="module")
def crops(setup):
    return ours(setup, False).enhance(photo_from_array(setup[3].copy()), seed=SEED).cropped_faces


def test_batch_size_does_not_change_faces(setup, crops):
    one = FaceRestorer(setup[0], "cpu", batch_size=1).restore(crops, seed=SEED)
    two = FaceRestorer(setup[0], "cpu", batch_size=2).restore(crops, seed=SEED)
    for a, b in zip(one, two):
        assert record("batch 1 vs batch 2", a, b) <= 1


def test_fixed_noise_is_deterministic_and_differs_from_random(setup, crops):
    net, crop = setup[0], crops[:1]
    fixed = FaceRestorer(net, "cpu", noise="fixed")
    first, second = fixed.restore(crop, seed=1)[0], fixed.restore(crop, seed=2)[0]
    assert np.array_equal(first, second)
    random_a = FaceRestorer(net, "cpu", noise="random").restore(crop, seed=1)[0]
    random_b = FaceRestorer(net, "cpu", noise="random").restore(crop, seed=2)[0]
    assert not np.array_equal(random_a, random_b)
    assert not np.array_equal(first, random_a)
