"""The evaluation speed paths added for issue 13 keep the values: the float64 metrics image by image with one
CPU thread, channels_last FID Inception, LPIPS backbones built without random initialisation; the LPIPS bf16
switch is close, not exact."""

from __future__ import annotations

import pytest
import torch
import torchvision
from helpers.compare import assert_close_to_peak
from test_metrics_parity import _faces, _tensor

from facerevive import metrics
from facerevive.metrics import fid as fid_lib
from facerevive.metrics.cpu_scoring import one_cpu_thread
from facerevive.metrics.scorers import SetInfo

pytestmark = pytest.mark.unit


def test_one_cpu_thread_on_cpu_only_and_restores_the_count():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_cpu_thread(torch.device("cpu")):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with one_cpu_thread(torch.device("meta")):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_psnr_ssim_and_niqe_scorers_equal_the_functions():
    restored, gt = _tensor(_faces(3, 192, 192, seed=1)), _tensor(_faces(3, 192, 192, seed=2))
    scorer = metrics.PSNRSSIM()
    values = scorer.update(restored, gt)
    psnr, ssim = metrics.psnr_ssim(restored, gt, correct=True)
    assert_close_to_peak(values["psnr"], psnr, 1e-12, "PSNR one thread")
    assert_close_to_peak(values["ssim"], ssim, 1e-12, "SSIM one thread")
    assert_close_to_peak(metrics.NIQEScorer().update(restored, None)["niqe"], metrics.niqe(restored), 1e-12, "NIQE")


def test_fid_inception_channels_last_equals_nchw_and_the_scorer_passes_the_switch(tmp_path):
    path = tmp_path / "inception.pth"
    torch.save(fid_lib.random_inception_trunk(seed=2).state_dict(), path)
    scorer = metrics.FIDScorer(reference="gt", inception=str(path), channels_last=False)
    scorer.setup(torch.device("cpu"), SetInfo("set", True))
    assert scorer.model.memory_format is torch.contiguous_format
    imgs = _tensor(_faces(2, 64, 64, seed=3)).float()
    expected = scorer.model(imgs)
    assert_close_to_peak(fid_lib.FIDInception.from_file(path)(imgs), expected, 1e-5, "Inception NHWC")


def test_lpips_from_files_equals_a_random_network_given_the_same_weights(tmp_path):
    torch.manual_seed(0)
    backbone = torchvision.models.alexnet(weights=None)
    path = tmp_path / "alexnet.pth"
    torch.save(backbone.state_dict(), path)
    loaded = metrics.LPIPS.from_files("alex", path)  # built on the meta device, then given the file's tensors
    plain = metrics.LPIPS("alex")
    plain.load_backbone(path)
    plain.load_linear(metrics.lpips.lpips_linear_weights("alex"))
    for name, tensor in plain.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    a, b = _tensor(_faces(2, 64, 64, seed=4)).float(), _tensor(_faces(2, 64, 64, seed=5)).float()
    assert torch.equal(loaded(a, b), plain(a, b))


def test_lpips_bf16_switch_is_close_but_not_the_exact_value():
    torch.manual_seed(1)
    exact = metrics.LPIPS("alex")
    fast = metrics.LPIPS("alex", bf16=True)
    fast.load_state_dict(exact.state_dict())
    a, b = _tensor(_faces(2, 64, 64, seed=6)).float(), _tensor(_faces(2, 64, 64, seed=7)).float()
    expected, value = exact(a, b), fast(a, b)
    assert value.dtype == expected.dtype
    assert not torch.equal(value, expected)  # the switch is on: bfloat16 convolutions
    assert_close_to_peak(value, expected, 5e-2, "LPIPS bf16")


def test_identity_gt_embeddings_are_computed_once_per_set():
    torch.manual_seed(2)
    scorer = metrics.IdentityScorer(weights=None)
    scorer.setup(torch.device("cpu"), SetInfo("set", True))
    calls = []
    embedder = scorer.embedder

    def counting(img: torch.Tensor) -> torch.Tensor:
        calls.append(len(img))
        return embedder(img)

    scorer.embedder = counting
    restored, gt = _tensor(_faces(2, 64, 64, seed=8)).float(), _tensor(_faces(2, 64, 64, seed=9)).float()
    first = scorer.update(restored, gt)
    second = scorer.update(restored, gt)  # a second method: the same GT batch
    assert calls == [2, 2, 2]
    assert all(torch.equal(first[key], second[key]) for key in first)
    scorer.update(restored, gt.flip(-1))  # other GT images: computed
    assert calls == [2, 2, 2, 2, 2]
