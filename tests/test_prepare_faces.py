"""facerevive.data.prepare_faces: raw photos -> aligned faces + box file, offline, and data/samples rebuilt by it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from facerevive.data.component_boxes import load_boxes
from facerevive.data.prepare_faces import BOX_FILE, main, prepare_faces
from facerevive.restore.detection import TinyRetinaFaceDetector
from facerevive.restore.images import read_photo
from facerevive.restore.pipeline import RestorePipeline

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"


class PassThrough:
    """A restorer that returns the aligned crops unchanged (face_size 512)."""

    face_size = 512

    def checked_fidelity(self, fidelity: float | None) -> float:
        return 1.0

    def restore(self, faces: list[np.ndarray], seed: int = 0, fidelity: float | None = None) -> list[np.ndarray]:
        return faces


def _make_samples_module():
    spec = importlib.util.spec_from_file_location("make_samples", ROOT / "scripts" / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return _make_samples_module().sources()


def test_the_committed_samples_are_what_the_tool_makes(tmp_path, photos):
    """data/samples is reproducible: the same faces (to 1 grey level: codec and SIMD builds of OpenCV may round
    a bilinear sample differently) and the same boxes, under the same names."""
    boxes = prepare_faces(photos.items(), tmp_path, one_face=True, mirror=True)
    names = sorted(p.name for p in SAMPLES.glob("*.png"))
    assert sorted(p.name for p in tmp_path.glob("*.png")) == names == sorted(f"{n}.png" for n in boxes)
    for name in names:
        made, committed = (cv2.imread(str(folder / name)).astype(int) for folder in (tmp_path, SAMPLES))
        assert np.abs(made - committed).max() <= 1, name
    committed_boxes = json.loads((SAMPLES / BOX_FILE).read_text())
    assert committed_boxes.keys() == boxes.keys()
    for name, entry in committed_boxes.items():
        for component, value in entry.items():
            np.testing.assert_allclose(boxes[name][component], value, atol=1e-3, err_msg=f"{name} {component}")


def test_cli_aligns_every_face_and_names_what_it_skips(tmp_path, photos, capsys):
    """A folder with a one-face JPEG, a two-face photo in a subfolder, a photo without a face and a broken
    file: each face is written as the restore pipeline aligns it, the others are
    named, and the box file covers exactly the faces written."""
    raw = tmp_path / "photos"
    (raw / "trip").mkdir(parents=True)
    cv2.imwrite(str(raw / "astronaut.jpg"), photos["astronaut"], [cv2.IMWRITE_JPEG_QUALITY, 95])
    pair = np.concatenate([photos["astronaut"], photos["grace_hopper"][44:556]], axis=1)
    cv2.imwrite(str(raw / "trip" / "pair.png"), pair)
    cv2.imwrite(str(raw / "wall.png"), np.full((200, 300, 3), 128, np.uint8))
    (raw / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "faces"
    main([str(raw), str(out)])
    captured = capsys.readouterr()
    assert "broken.png" in captured.err and "no face found in wall" in captured.err
    faces = sorted(p.stem for p in out.glob("*.png"))
    assert faces == ["astronaut_00", "pair_00", "pair_01"]
    assert sorted(load_boxes(out / BOX_FILE)) == faces
    # The same crops as the restore pipeline aligns for the network, pixel for pixel (a pass-through restorer
    # stands in for the generator: only the pipeline's detection and alignment are used).
    pipeline = RestorePipeline(PassThrough(), TinyRetinaFaceDetector(), upscale=1)
    expected = {
        "astronaut_00": pipeline.enhance(read_photo(raw / "astronaut.jpg")).cropped_faces,
        "pair_00": pipeline.enhance(read_photo(raw / "trip" / "pair.png")).cropped_faces,
    }
    assert len(expected["astronaut_00"]) == 1 and len(expected["pair_00"]) == 2
    expected["pair_01"] = expected["pair_00"][1:]
    for name in faces:
        np.testing.assert_array_equal(cv2.imread(str(out / f"{name}.png")), expected[name][0], err_msg=name)


def test_other_sizes_keep_boxes_at_512(tmp_path, photos):
    """--size 256 writes 256 px faces; the box file stays in 512 px (the training config's component_size)."""
    full = prepare_faces([("a", photos["astronaut"])], tmp_path / "512")
    half = prepare_faces([("a", photos["astronaut"])], tmp_path / "256", size=256)
    assert cv2.imread(str(tmp_path / "256" / "a_00.png")).shape == (256, 256, 3)
    for component, value in full["a_00"].items():
        np.testing.assert_allclose(half["a_00"][component], value, atol=0.5)


def test_refuses_to_overwrite_and_fails_with_one_line(tmp_path, photos):
    out = tmp_path / "faces"
    prepare_faces([("a", photos["astronaut"])], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(SystemExit, match=r"^prepare_faces: .*faces already holds .*a_00\.png"):
        main([str(SAMPLES), str(out)])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with pytest.raises(SystemExit, match=r"^prepare_faces: image folder .*missing does not exist"):
        main([str(tmp_path / "missing"), str(tmp_path / "new")])
    blank = tmp_path / "blank"
    blank.mkdir()
    cv2.imwrite(str(blank / "wall.png"), np.full((200, 300, 3), 128, np.uint8))
    with pytest.raises(SystemExit, match=r"^prepare_faces: no face found in any photo; nothing written$"):
        main([str(blank), str(tmp_path / "none")])
    assert not (tmp_path / "none" / BOX_FILE).exists()
