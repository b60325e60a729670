"""Fuzzed image files through the readers of data, evaluate and restore (issue 11): truncated PNG/JPEG, wrong
extensions, huge declared sizes, odd modes and non-UTF-8 names give the image or an error of ours naming the
file; never another exception, a hang, or a changed input. Each test is bounded in examples and time."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from facerevive.data import UnpairedImageDataset
from facerevive.data.image_io import BadImageError, load_rgb
from facerevive.evaluation.testsets import CheckedImages, collate_checked
from facerevive.restore.images import BadInputError, read_photo

pytestmark = pytest.mark.unit

MODES = ["RGB", "L", "1", "P", "RGBA", "I;16", "CMYK"]
FUZZ = settings(max_examples=25, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _encoded(mode: str, fmt: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8))
    image = rgb.convert("CMYK" if mode == "CMYK" else "RGB")
    if mode == "I;16":
        image = Image.fromarray((rng.integers(0, 65536, (48, 40))).astype(np.uint16))
        fmt = "PNG"
    elif mode != "CMYK":
        image = rgb.convert(mode)
    if mode == "CMYK":
        fmt = "JPEG"
    elif fmt == "JPEG" and image.mode not in ("RGB", "L"):
        fmt = "PNG"
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def huge_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A complete, well-formed PNG whose header claims `width` x `height` (its data is one short row)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 8)) + chunk(b"IEND", b"")
    )


@st.composite
def image_files(draw):
    """(bytes, file name): a valid image of any mode, maybe cut short or bit-flipped, under any extension."""
    if draw(st.integers(0, 9)) == 0:
        data = huge_png()
    else:
        data = _encoded(draw(st.sampled_from(MODES)), draw(st.sampled_from(["PNG", "JPEG"])), draw(st.integers(0, 99)))
    cut = draw(st.sampled_from(["whole", "truncated", "flipped"]))
    if cut == "truncated":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif cut == "flipped":
        position = draw(st.integers(0, len(data) - 1))
        data = data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :]
    stem = draw(st.sampled_from(["face", "é_face", os.fsdecode(b"bad\xff\xfename")]))
    return data, stem + draw(st.sampled_from([".png", ".jpg", ".webp", ".bmp", ".gif"]))


@FUZZ
@given(image_files())
def test_data_reader_gives_an_image_or_bad_image_error(case):
    data, name = case
    try:
        image = load_rgb(data, name)
    except BadImageError as exc:
        assert name in str(exc)
    else:
        assert image.dtype == np.float32 and image.ndim == 3 and image.shape[2] == 3


@FUZZ
@given(image_files())
def test_restore_reader_gives_a_photo_or_bad_input_error(tmp_path_factory, case):
    data, name = case
    path = tmp_path_factory.mktemp("restore") / name
    path.write_bytes(data)
    try:
        photo = read_photo(path)
    except BadInputError as exc:
        assert str(path) in str(exc)
    else:
        assert photo.bgr8.dtype == np.uint8 and photo.bgr8.shape[2] == 3
    assert path.read_bytes() == data, "the input must not change"


@FUZZ
@given(st.lists(image_files(), min_size=1, max_size=3))
def test_evaluation_loader_marks_each_bad_file(tmp_path_factory, cases):
    folder = tmp_path_factory.mktemp("testset")
    for i, (data, name) in enumerate(cases):
        (folder / f"{i}_{name}").write_bytes(data)
    (folder / "z_good.png").write_bytes(_encoded("RGB", "PNG", 0))  # .gif is no test-set extension: one file
    dataset = UnpairedImageDataset(folder, signed=False)
    checked = CheckedImages(dataset)
    items = [checked[i] for i in range(len(checked))]
    for item in items:
        if "error" in item:
            assert str(folder) in item["error"], item["error"]
        else:
            assert item["lq"].shape[0] == 3
    batch = collate_checked([item for item in items if "error" in item])
    assert set(batch["failed"]) == {item["index"] for item in items if "error" in item}


def test_huge_declared_size_is_refused_without_allocating(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(huge_png())
    with pytest.raises(BadInputError, match="too large"):
        read_photo(path)
    with pytest.raises(BadImageError, match=r"huge\.png"):
        load_rgb(path.read_bytes(), str(path))


def test_non_utf8_names_reach_the_report_files(tmp_path):
    from facerevive.evaluation.report import MethodResult, Results
    from facerevive.evaluation.report_files import write_report

    name = os.fsdecode(b"bad\xff")
    results = Results("set", [], [MethodResult("Input", "input", bad_images={name: "truncated"})], images=[name])
    paths = write_report(results, tmp_path, [])
    assert "bad\\udcff" in paths["markdown"].read_text(encoding="utf-8")
    assert Path(paths["json"]).read_text(encoding="utf-8")
