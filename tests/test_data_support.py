"""Shared helpers for the data tests: synthetic face-like images, box files, and parity bookkeeping.

No real faces are used: images are smooth random colour fields with eye- and mouth-like blobs at the FFHQ
template positions, written with code into pytest's tmp_path.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from helpers.compare import PARITY_RECORDS

from facerevive.data import component_boxes as cb
from facerevive.data.pipeline import DegradationPipeline, load_degradation

# facexlib's FFHQ five-point template at 512 (eyes, nose, mouth corners).
FIVE_POINT_TEMPLATE_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.1936],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ]
)
ONE_LEVEL = 1.0 / 255.0


def gfpgan_v1(*overrides: str) -> DegradationPipeline:
    """A fresh official pipeline from configs/data/degradation/gfpgan_v1.yaml (each dataset needs its own)."""
    return load_degradation("gfpgan_v1", list(overrides))


def synthetic_face(size: int, seed: int) -> np.ndarray:
    """A uint8 BGR image with smooth colour, texture and dark blobs where eyes and mouth sit."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.random((8, 8, 3)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    texture = cv2.GaussianBlur(rng.random((size, size, 3)).astype(np.float32), (0, 0), 1.5)
    img = np.clip(0.25 + 0.6 * base + 0.3 * (texture - 0.5), 0, 1)
    scale = size / 512
    for x, y in FIVE_POINT_TEMPLATE_512[[0, 1]] * scale:
        cv2.circle(img, (int(x), int(y)), max(2, int(14 * scale)), (0.1, 0.1, 0.15), -1)
    left, right = FIVE_POINT_TEMPLATE_512[3] * scale, FIVE_POINT_TEMPLATE_512[4] * scale
    cv2.line(img, tuple(int(v) for v in left), tuple(int(v) for v in right), (0.2, 0.2, 0.6), max(1, int(8 * scale)))
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def write_faces(folder: Path, count: int, size: int, start_seed: int = 0, ext: str = ".png") -> list[Path]:
    """Write `count` synthetic faces named 00000.png, 00001.png, ... (the FFHQ naming)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{i:05d}{ext}"
        cv2.imwrite(str(path), synthetic_face(size, start_seed + i))
        paths.append(path)
    return paths


def write_box_file(path: Path, count: int, size: int, official_keys: bool = True, jitter_seed: int = 0) -> Path:
    """A box file for `count` faces of `size` pixels, keyed '%08d' (official) or by stem, with numpy floats."""
    rng = np.random.default_rng(jitter_seed)
    boxes = {}
    for i in range(count):
        points = FIVE_POINT_TEMPLATE_512 * size / 512 + rng.normal(0, 2 * size / 512, (5, 2))
        entry = cb.boxes_from_five_points(points, min_half_len=16 * size / 512)
        # The official file stores numpy float64 scalars; mimic it.
        boxes[f"{i:08d}" if official_keys else f"{i:05d}"] = {
            k: [np.float64(v) for v in vals] for k, vals in entry.items()
        }
    import torch

    torch.save(boxes, path)
    return path


def record_abs_error(what: str, ours: np.ndarray, reference: np.ndarray, limit: float) -> float:
    """Assert max |ours - reference| <= limit and log it for the parity summary."""
    ours64, ref64 = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    assert ours64.shape == ref64.shape, f"{what}: shape {ours64.shape} != reference {ref64.shape}"
    error = float(np.abs(ours64 - ref64).max()) if ours64.size else 0.0
    test_id = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    PARITY_RECORDS.append((test_id, f"{what} (max abs)", error))
    assert error <= limit, f"{what}: max abs error {error:.3e} > {limit:.3e}"
    return error
