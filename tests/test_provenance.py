"""Every output says where it came from: the weights record (file, SHA-256, iteration, random or not) and the
software record (version, git commit, torch/CUDA, device) in restore outputs, exports and reports; an export of
random weights restores with the RANDOM WEIGHTS label, as PyTorch does."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import cv2
import onnx
import pytest
import torch
from PIL import Image

from facerevive.export import export_model
from facerevive.restore.build import model_caveat
from facerevive.restore.images import write_image
from facerevive.restore.runner import PNG_TEXT_KEY, PROVENANCE_FILE
from facerevive.weights import provenance as provenance_module
from facerevive.weights.checkpoint import save_export_safetensors
from facerevive.weights.provenance import software_record, weights_record

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = sorted((ROOT / "data" / "samples").glob("*.png"))[0]
TINY = {"out_size": 32, "num_style_feat": 32, "channel_multiplier": 1, "narrow": 0.25}
TINY_OVERRIDE = "{" + ",".join(f"{key}:{value}" for key, value in TINY.items()) + "}"
SOFTWARE_KEYS = {"version", "git_commit", "torch", "cuda", "device"}


@pytest.fixture(scope="module")
def random_onnx(tmp_path_factory) -> Path:
    """An ONNX export of random weights (the tiny network)."""
    out = tmp_path_factory.mktemp("onnx") / "random.onnx"
    return export_model(model="random:gfpgan_v1.4", out=out, overrides=TINY).path


def test_checkpoint_record_has_file_hash_and_iteration(tmp_path):
    path = tmp_path / "runs" / "r1" / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True)
    torch.save({"iteration": 120, "run_config": {"model": {"total_iter": 400}}, "state_dict": {}}, path)
    record = weights_record(str(path))
    assert (record.file, record.iteration, record.total_iter, record.random_weights) == (str(path), 120, 400, False)
    assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    random = weights_record("random:gfpgan_v1.4")
    assert (random.file, random.sha256, random.random_weights) == (None, None, True)


def test_software_record_never_fails_outside_a_checkout(tmp_path, monkeypatch):
    assert set(software_record("cpu")) == SOFTWARE_KEYS
    assert software_record("cpu")["torch"] == torch.__version__
    provenance_module.git_commit.cache_clear()
    monkeypatch.setattr(provenance_module, "CHECKOUT", tmp_path)  # an installed wheel: no .git above it
    assert provenance_module.git_commit() == "unknown"
    provenance_module.git_commit.cache_clear()
    (tmp_path / ".git").mkdir()  # git itself missing or failing: still "unknown", never an exception

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert provenance_module.git_commit() == "unknown"
    provenance_module.git_commit.cache_clear()


def test_onnx_export_of_random_weights_carries_the_record_and_restores_labelled(random_onnx, compose, tmp_path):
    props = {p.key: p.value for p in onnx.load(str(random_onnx), load_external_data=False).metadata_props}
    assert props["facerevive.random_weights"] == "true" and props["facerevive.source"] == "random:gfpgan_v1.4"
    assert {f"facerevive.{key}" for key in SOFTWARE_KEYS} <= set(props)
    record = weights_record(str(random_onnx))
    assert record.random_weights and record.source == "random:gfpgan_v1.4"
    caveat = model_caveat(str(random_onnx), 32, record.source)
    assert caveat is not None and caveat.label == "RANDOM WEIGHTS"
    # The restore command: the comparison is labelled, and provenance.json names the file and its hash.
    from facerevive.cli.restore import run

    out = tmp_path / "results"
    overrides = [f"input={SAMPLE}", f"output={out}", f"weights={random_onnx}", "aligned=true", "upscale=1"]
    run(compose("restore.yaml", [*overrides, f"paths.pretrained_dir={tmp_path / 'none'}"]))
    written = json.loads((out / PROVENANCE_FILE).read_text())
    assert written["weights"]["sha256"] == hashlib.sha256(random_onnx.read_bytes()).hexdigest()
    assert written["weights"]["random_weights"] is True and written["caveat"] == "RANDOM WEIGHTS"
    assert set(written["software"]) == SOFTWARE_KEYS
    face = next((out / "restored_faces").glob("*.png"))
    assert json.loads(Image.open(face).text[PNG_TEXT_KEY]) == written


def test_quickstart_source_of_an_export_gets_the_quickstart_label():
    source = "experiments/quickstart/runs/2026-01-01/checkpoints/net_g_latest.pth"
    caveat = model_caveat("model.onnx", 64, source)
    assert caveat is not None and caveat.label == "QUICKSTART MODEL" and "exported from" in caveat.message
    assert model_caveat("model.onnx", 512, "gfpgan_v1.4") is None


def test_safetensors_export_carries_the_record(tmp_path):
    net_state = {"w": torch.zeros(2)}
    path = save_export_safetensors(
        {"params_ema": net_state}, tmp_path / "x.safetensors", {"source": "random:gfpgan_v1.4", "iteration": "0"}
    )
    record = weights_record(str(path))
    assert record.random_weights and record.source == "random:gfpgan_v1.4" and record.iteration == 0
    assert model_caveat(str(path), 512, record.source).label == "RANDOM WEIGHTS"


def test_png_text_chunk_is_readable_and_the_image_unchanged(tmp_path):
    image = cv2.imread(str(SAMPLE))[:64, :64]
    path = write_image(tmp_path / "a.png", image, {"facerevive": '{"a": 1}'})
    assert Image.open(path).text == {"facerevive": '{"a": 1}'}
    assert (cv2.imread(str(path)) == image).all()
    write_image(tmp_path / "b.jpg", image, {"facerevive": "x"})  # other formats: written, without the text
    assert cv2.imread(str(tmp_path / "b.jpg")) is not None
