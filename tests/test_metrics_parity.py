"""Parity of facerevive.metrics with the reference implementations on identical images and weights.

References: basicsr.metrics (PSNR, SSIM, NIQE, MATLAB imresize), VQFR's metric_paper mean/variance correction
(transcribed below from the script, the only place it exists), lpips.LPIPS, pytorch_fid (Inception, Fréchet
distance), the official ArcFace network with VQFR's / RestoreFormer++'s identity formulas, facexlib's AWing
`get_landmarks`. Networks use random weights (the real files cannot be downloaded in CI) shared by both sides.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers.compare import assert_close_to_peak
from helpers.reference import import_reference

from facerevive import metrics
from facerevive.metrics import fid as fid_lib
from facerevive.metrics.matlab_resize import imresize

pytestmark = pytest.mark.parity


def _faces(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth, face-like test images (uint8 RGB, N x H x W x 3): gradients, blobs and a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = []
    for _ in range(n):
        a, b, c = rng.uniform(2, 9, 3)
        img = np.stack([np.sin(a * xx + b * yy), np.cos(b * xx - c * yy), np.sin(c * (xx + yy) + a)], -1)
        img = (img * 90 + 128 + rng.normal(0, 12, (h, w, 3))).clip(0, 255)
        out.append(img.astype(np.uint8))
    return np.stack(out)


def _tensor(rgb_u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb_u8).permute(0, 3, 1, 2).double() / 255.0


def _vqfr_correct(restored_bgr01: np.ndarray, gt_bgr01: np.ndarray) -> np.ndarray:
    """VQFR metric_paper/calculate_psnr_ssim.py's `--correct_mean_var` (float32, per channel, twice)."""
    img = restored_bgr01.copy()
    means = [np.mean(gt_bgr01[:, :, j]) for j in range(3)]
    stds = [np.std(gt_bgr01[:, :, j]) for j in range(3)]
    for j in range(3):
        for _ in range(2):
            img[:, :, j] = img[:, :, j] - np.mean(img[:, :, j]) + means[j]
            img[:, :, j] = img[:, :, j] / np.std(img[:, :, j]) * stds[j]
    return img


@pytest.mark.parametrize("y_channel", [False, True])
@pytest.mark.parametrize("crop_border", [0, 4])
def test_psnr_ssim_match_basicsr(y_channel, crop_border):
    psnr_ssim = import_reference("basicsr.metrics.psnr_ssim")
    restored, gt = _faces(3, 64, 80, seed=1), _faces(3, 64, 80, seed=2)
    ref_psnr, ref_ssim = [], []
    for r, g in zip(restored, gt):
        r_bgr, g_bgr = r[..., ::-1].astype(np.float64), g[..., ::-1].astype(np.float64)
        kwargs = {"crop_border": crop_border, "input_order": "HWC", "test_y_channel": y_channel}
        ref_psnr.append(psnr_ssim.calculate_psnr(r_bgr, g_bgr, **kwargs))
        ref_ssim.append(psnr_ssim.calculate_ssim(r_bgr, g_bgr, **kwargs))
    ours_psnr = metrics.psnr(_tensor(restored), _tensor(gt), y_channel=y_channel, crop_border=crop_border)
    ours_ssim = metrics.ssim(_tensor(restored), _tensor(gt), y_channel=y_channel, crop_border=crop_border)
    assert_close_to_peak(ours_psnr, torch.tensor(ref_psnr), 1e-5, "PSNR")
    assert_close_to_peak(ours_ssim, torch.tensor(ref_ssim), 1e-5, "SSIM")


@pytest.mark.parametrize("y_channel", [False, True])
def test_mean_var_corrected_psnr_ssim_match_vqfr_script(y_channel):
    psnr_ssim = import_reference("basicsr.metrics.psnr_ssim")
    color = import_reference("basicsr.utils.color_util")
    restored, gt = _faces(2, 72, 72, seed=3), _faces(2, 72, 72, seed=4)
    ref_psnr, ref_ssim = [], []
    for r, g in zip(restored, gt):
        g01 = g[..., ::-1].astype(np.float32) / 255.0
        r01 = _vqfr_correct(r[..., ::-1].astype(np.float32) / 255.0, g01)
        if y_channel:
            g01, r01 = color.bgr2ycbcr(g01, y_only=True), color.bgr2ycbcr(r01, y_only=True)
        ref_psnr.append(psnr_ssim.calculate_psnr(g01 * 255, r01 * 255, crop_border=0, input_order="HWC"))
        ref_ssim.append(psnr_ssim.calculate_ssim(g01 * 255, r01 * 255, crop_border=0, input_order="HWC"))
    kwargs = {"y_channel": y_channel, "correct": True}
    assert_close_to_peak(metrics.psnr(_tensor(restored), _tensor(gt), **kwargs), torch.tensor(ref_psnr), 1e-5, "PSNR")
    assert_close_to_peak(metrics.ssim(_tensor(restored), _tensor(gt), **kwargs), torch.tensor(ref_ssim), 1e-5, "SSIM")


def test_mean_var_correction_changes_the_score():
    restored, gt = _tensor(_faces(1, 64, 64, seed=5)), _tensor(_faces(1, 64, 64, seed=6))
    assert not torch.allclose(metrics.psnr(restored, gt), metrics.psnr(restored, gt, correct=True))


@pytest.mark.parametrize("size", [(192, 192), (200, 300), (97, 150)])
def test_matlab_imresize_matches_basicsr(size):
    reference = import_reference("basicsr.utils.matlab_functions")
    img = np.random.default_rng(0).random(size)
    ref = reference.imresize(img[..., None].astype(np.float32), scale=0.5, antialiasing=True)[..., 0]
    ours = imresize(torch.from_numpy(img), 0.5)
    assert_close_to_peak(ours, torch.from_numpy(ref.astype(np.float64)), 1e-5, "imresize")


def test_niqe_of_astronaut_matches_basicsr():
    """scikit-image's astronaut (public domain, 512x512 RGB), a real photo, against BasicSR's calculate_niqe
    computed live (BGR uint8, crop_border 0, convert_to 'y'). A value recorded once drifts with the installed
    numpy/scipy/OpenCV (3.064948 recorded, 3.064607 on a later install), so the reference is never a constant."""
    skdata = pytest.importorskip("skimage.data")
    niqe = import_reference("basicsr.metrics.niqe")
    img = skdata.astronaut()
    reference = niqe.calculate_niqe(img[..., ::-1].copy(), crop_border=0)
    ours = metrics.niqe(_tensor(img[None]))
    assert_close_to_peak(ours, torch.tensor([reference], dtype=torch.float64), 1e-3, "NIQE astronaut")


def test_niqe_matches_basicsr_on_synthetic_faces():
    niqe = import_reference("basicsr.metrics.niqe")
    imgs = _faces(2, 200, 290, seed=7)
    reference = torch.tensor([niqe.calculate_niqe(im[..., ::-1].copy(), crop_border=0) for im in imgs])
    assert_close_to_peak(metrics.niqe(_tensor(imgs)), reference, 1e-3, "NIQE")
    reference = torch.tensor([niqe.calculate_niqe(im[..., ::-1].copy(), crop_border=5) for im in imgs])
    assert_close_to_peak(metrics.niqe(_tensor(imgs), crop_border=5), reference, 1e-3, "NIQE crop 5")


def test_niqe_undefined_below_two_blocks():
    assert torch.isnan(metrics.niqe(_tensor(_faces(1, 128, 128)))).all()


@pytest.mark.parametrize("net", ["vgg", "alex"])
def test_lpips_matches_lpips_package_with_shared_random_backbone(net, tmp_path):
    import lpips
    import torchvision

    backbone = (torchvision.models.vgg16 if net == "vgg" else torchvision.models.alexnet)(weights=None)
    path = tmp_path / "backbone.pth"
    torch.save(backbone.state_dict(), path)
    ours = metrics.LPIPS(net)
    ours.load_backbone(path)
    ours.load_linear(metrics.lpips.lpips_linear_weights(net))
    # pnet_rand: the reference does not download ImageNet weights; it gets the same random backbone instead.
    reference = lpips.LPIPS(net=net, pnet_rand=True, verbose=False).eval()
    features = backbone.features
    for slice_ in [reference.net.slice1, reference.net.slice2, reference.net.slice3, reference.net.slice4,
                   reference.net.slice5]:  # fmt: skip
        for name, module in slice_.named_children():
            module.load_state_dict(features[int(name)].state_dict())
    a, b = _tensor(_faces(3, 64, 64, seed=8)).float(), _tensor(_faces(3, 64, 64, seed=9)).float()
    with torch.no_grad():
        expected = reference(a, b, normalize=True).flatten()
    assert_close_to_peak(ours(a, b), expected, 1e-5, f"LPIPS-{net}")


def test_fid_inception_features_match_pytorch_fid(monkeypatch):
    from pytorch_fid import inception as pf

    trunk_state = fid_lib.random_inception_trunk(seed=1).state_dict()
    monkeypatch.setattr(pf, "load_state_dict_from_url", lambda *a, **k: trunk_state)
    reference = pf.InceptionV3([3], resize_input=True, normalize_input=True, use_fid_inception=True).eval()
    ours = fid_lib.FIDInception(trunk_state)
    imgs = _tensor(_faces(2, 96, 96, seed=10)).float()
    with torch.no_grad():
        expected = reference(imgs)[0].flatten(1)
    features = ours(imgs)
    assert (features[0] - features[1]).abs().max() > 1e-3 * features.abs().max()  # features depend on the image
    assert_close_to_peak(features, expected, 1e-5, "Inception pool3")


@pytest.mark.parametrize("dim", [16, 256])
def test_frechet_distance_matches_pytorch_fid(dim):
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(dim)
    a = rng.normal(size=(4 * dim, dim)) @ rng.normal(size=(dim, dim))
    b = rng.normal(0.3, 1.0, size=(4 * dim, dim)) @ rng.normal(size=(dim, dim))
    sa, sb = fid_lib.FIDStats.from_features(a), fid_lib.FIDStats.from_features(b)
    expected = calculate_frechet_distance(sa.mu, sa.sigma, sb.mu, sb.sigma)
    assert_close_to_peak(torch.tensor([metrics.frechet_distance(sa, sb)]), torch.tensor([expected]), 1e-5, "FID")


def test_identity_matches_official_network_and_formulas():
    official = import_reference("gfpgan.archs.arcface_arch").ResNetArcFace("IRBlock", [2, 2, 2, 2], use_se=False)
    ours = metrics.build_arcface(weights=None)
    official.load_state_dict(ours.state_dict())
    official.eval()
    restored, gt = _tensor(_faces(4, 96, 96, seed=11)).float(), _tensor(_faces(4, 96, 96, seed=12)).float()
    gt[3] = restored[3]  # an identical pair: VQFR leaves it out of Deg.

    def rfpp_gray(x):  # RestoreFormer++ / GFPGAN `gray_resize_for_identity`, on the [-1, 1] network input
        x = x * 2 - 1
        gray = (0.2989 * x[:, 0] + 0.5870 * x[:, 1] + 0.1140 * x[:, 2])[:, None]
        return torch.nn.functional.interpolate(gray, (128, 128), mode="bilinear", align_corners=False)

    with torch.no_grad():
        e_r, e_g = official(rfpp_gray(restored)).numpy(), official(rfpp_gray(gt)).numpy()
    cos_ref = [np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y)) for x, y in zip(e_r, e_g)]
    deg_ref = [np.arccos(np.clip(c, -1, 1)) / math.pi * 180 for c in cos_ref]
    kept = [d for d in deg_ref if not d < 1]
    scorer = metrics.IdentityScorer(weights=None)
    scorer.embedder = metrics.identity.IdentityEmbedder(ours)
    values = scorer.update(restored, gt)
    assert_close_to_peak(values["ids"], torch.tensor(cos_ref, dtype=torch.float64), 1e-5, "IDS")
    assert_close_to_peak(values["deg"][:3], torch.tensor(deg_ref[:3]), 1e-5, "Deg. per pair")
    assert_close_to_peak(values["idd"][:3], torch.tensor(np.radians(deg_ref[:3])), 1e-5, "IDD per pair")
    mean_deg, left_out = scorer.summary("deg", values["deg"].tolist())
    assert left_out == "1 pair(s) under 1 degree left out" and len(kept) == 3
    assert_close_to_peak(torch.tensor([mean_deg]), torch.tensor([sum(kept) / len(kept)]), 1e-5, "Deg. mean")


@pytest.mark.slow
def test_landmarks_match_facexlib_get_landmarks():
    awing = import_reference("facexlib.alignment.awing_arch")
    torch.manual_seed(3)
    net = metrics.build_awing(weights=None)
    reference = awing.FAN(num_modules=4, num_landmarks=98, device="cpu").eval()
    reference.load_state_dict(net.state_dict())
    detector = metrics.LandmarkDetector(net)
    imgs = _faces(2, 256, 256, seed=13)
    ours = detector(_tensor(imgs).float())
    expected = torch.stack([torch.from_numpy(reference.get_landmarks(im[..., ::-1].copy())) for im in imgs])
    assert_close_to_peak(ours, expected.double(), 1e-5, "landmarks")
    lmd = metrics.landmark_distance(ours[:1], ours[1:])
    ref_lmd = np.sqrt(((expected[0].numpy() - expected[1].numpy()) ** 2).sum(1)).mean()
    assert_close_to_peak(lmd, torch.tensor([ref_lmd]), 1e-5, "LMD")


def test_heatmap_points_match_facexlib_calculate_points():
    awing = import_reference("facexlib.alignment.awing_arch")
    rng = np.random.default_rng(0)
    heat = rng.random((3, 98, 64, 64)).astype(np.float32)
    heat[1, 5, 63, 10] = 5.0  # a peak on the last row: facexlib's whole-image fallback for the lower neighbour
    for b in range(3):
        expected = torch.from_numpy(awing.calculate_points(heat[b : b + 1]))
        ours = metrics.heatmap_points(torch.from_numpy(heat[b : b + 1]))
        assert_close_to_peak(ours, expected.double(), 1e-12, "heatmap points")
