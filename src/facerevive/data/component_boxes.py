"""Facial-component boxes (left eye, right eye, mouth): the official box file, its rules, and a CLI to build one.

File format (GFPGAN's `FFHQ_eye_mouth_landmarks_512.pth`, written with `torch.save`): a dict keyed by image
name -> {'left_eye': [x, y, half_len], 'right_eye': [...], 'mouth': [...]}, in pixels of the image size the file
refers to (512 for FFHQ). The official file is keyed by the FFHQ index formatted '%08d' (the order of
ffhq-dataset-v2.json, which is also the file name order 00000.png ...); files built here from images are keyed by
the image stem. 'left_eye' is the eye on the image's left (68-point indices 36-41).

Rules (GFPGAN scripts/parse_landmark.py): centre = mean of the component's 68-point landmarks (36-41, 42-47,
48-67); half_len = max(largest of the x and y extents / 2, 16). FFHQ's JSON gives 1024-pixel landmarks, scaled
by 0.5 for the 512 file. Eye boxes are enlarged by `eye_enlarge_ratio` only when a dataset reads them.

Five-point rule (eye centres, nose, mouth corners: the RetinaFace/facexlib order), chosen to match the 68-point
rule on the FFHQ template. Measured by fitting a mean 68-point face (OpenFace's dlib-based mean shape) to
facexlib's 512 FFHQ five-point template with a similarity transform (max residual 2.3 px) and applying the
68-point rule: eye half_len = 0.192 x the distance between the eye centres (24.2 px of 125.9); mouth half_len =
0.495 x the mouth-corner distance (55.4 px of 111.8); the mouth centre (mean of all 20 mouth points) lies 0.070 x
the corner distance below the corner midpoint, perpendicular to the corner line (7.8 px); eye centres coincide
with the five-point eye centres to 2.3 px. The 16 px floor applies at 512 and scales with the image.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy._core.multiarray import scalar as multiarray_scalar

from facerevive.data.image_io import to_float_rgb
from facerevive.utils.files import atomic_torch_save, atomic_write_text
from facerevive.weights.checkpoint import safe_load

COMPONENTS = ("left_eye", "right_eye", "mouth")
LEFT_EYE_68 = list(range(36, 42))
RIGHT_EYE_68 = list(range(42, 48))
MOUTH_68 = list(range(48, 68))
MIN_HALF_LEN_512 = 16.0
EYE_HALF_PER_EYE_DISTANCE = 0.192
MOUTH_HALF_PER_MOUTH_WIDTH = 0.495
MOUTH_CENTRE_DROP_PER_MOUTH_WIDTH = 0.070
DETECTOR_WEIGHTS = {5: "detection_Resnet50_Final.pth", 68: "alignment_WFLW_4HG.pth"}

Boxes = dict[str, list[float]]


def _component_box(points: np.ndarray, min_half_len: float) -> list[float]:
    centre = points.mean(axis=0)
    half_len = max(float(np.max(points.max(axis=0) - points.min(axis=0))) / 2, min_half_len)
    return [float(centre[0]), float(centre[1]), half_len]


def boxes_from_68_points(
    points: np.ndarray | Sequence[Sequence[float]], min_half_len: float = MIN_HALF_LEN_512
) -> Boxes:
    """Boxes from 68 (x, y) landmarks (iBUG/dlib order) by the official rule."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"expected 68 (x, y) landmarks, got shape {pts.shape}")
    return {
        "left_eye": _component_box(pts[LEFT_EYE_68], min_half_len),
        "right_eye": _component_box(pts[RIGHT_EYE_68], min_half_len),
        "mouth": _component_box(pts[MOUTH_68], min_half_len),
    }


def boxes_from_five_points(
    points: np.ndarray | Sequence[Sequence[float]], min_half_len: float = MIN_HALF_LEN_512
) -> Boxes:
    """Boxes from 5 (x, y) landmarks: left eye, right eye, nose, left and right mouth corner (see module doc)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (5, 2):
        raise ValueError(f"expected 5 (x, y) landmarks, got shape {pts.shape}")
    left_eye, right_eye, _, mouth_left, mouth_right = pts
    eye_distance = float(np.linalg.norm(right_eye - left_eye))
    mouth_vector = mouth_right - mouth_left
    mouth_width = float(np.linalg.norm(mouth_vector))
    corner_mid = (mouth_left + mouth_right) / 2
    down = np.array([-mouth_vector[1], mouth_vector[0]]) / max(mouth_width, 1e-12)
    if np.dot(down, corner_mid - (left_eye + right_eye) / 2) < 0:
        down = -down
    mouth_centre = corner_mid + MOUTH_CENTRE_DROP_PER_MOUTH_WIDTH * mouth_width * down
    eye_half = max(EYE_HALF_PER_EYE_DISTANCE * eye_distance, min_half_len)
    return {
        "left_eye": [float(left_eye[0]), float(left_eye[1]), eye_half],
        "right_eye": [float(right_eye[0]), float(right_eye[1]), eye_half],
        "mouth": [
            float(mouth_centre[0]),
            float(mouth_centre[1]),
            max(MOUTH_HALF_PER_MOUTH_WIDTH * mouth_width, min_half_len),
        ],
    }


def box_to_xyxy(box: Sequence[float], scale: float = 1.0, enlarge: float = 1.0) -> np.ndarray:
    """[x, y, half_len] to the official (x1, y1, x2, y2) = (c - h + 1, c + h) with h = half_len * enlarge."""
    centre = np.asarray(box[:2], dtype=np.float64) * scale
    half = float(box[2]) * scale * enlarge
    return np.concatenate([centre - half + 1, centre + half])


def load_boxes(path: str | Path) -> dict[str, Boxes]:
    """Read a box file: the official torch format (values are numpy float64 scalars), ours, or the same dict as JSON."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"component box file {path} does not exist")
    if path.suffix == ".json":
        raw = json.loads(path.read_text())
    else:
        numpy_types: list[Callable[..., Any]] = [
            np.dtype,
            np.dtypes.Float64DType,
            np.dtypes.Float32DType,
            multiarray_scalar,
        ]
        raw = safe_load(path, [*numpy_types, OrderedDict])
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path} does not hold a dict of component boxes")
    boxes = {}
    for key, entry in raw.items():
        missing = [c for c in COMPONENTS if c not in entry]
        if missing:
            raise ValueError(f"{path}: entry {key!r} lacks {missing}")
        boxes[str(key)] = {c: [float(v) for v in entry[c]] for c in COMPONENTS}
    return boxes


def save_boxes(boxes: Mapping[str, Mapping[str, Sequence[float]]], path: str | Path) -> None:
    """Write a box file as plain Python floats: JSON for a '.json' path, else the torch format that the
    official dataset also reads (loads with weights_only=True)."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; refusing to overwrite it")
    clean = {str(k): {c: [float(v) for v in entry[c]] for c in COMPONENTS} for k, entry in boxes.items()}
    if path.suffix == ".json":
        atomic_write_text(path, json.dumps(clean, indent=1) + "\n")
    else:
        atomic_torch_save(clean, path)


def box_key_candidates(stem: str) -> list[str]:
    """Keys that may hold an image's boxes: its stem, and for numeric stems (FFHQ) the official '%08d' index."""
    keys = [stem]
    if stem.isdigit():
        keys.append(f"{int(stem):08d}")
    return keys


def boxes_from_ffhq_json(json_path: str | Path, scale: float = 0.5) -> dict[str, Boxes]:
    """Boxes for every FFHQ face from ffhq-dataset-v2.json (1024-pixel 68-point landmarks), keyed '%08d'."""
    with open(json_path, "rb") as handle:
        meta = json.load(handle, object_pairs_hook=OrderedDict)
    out = {}
    for index, item in enumerate(meta.values()):
        landmarks = np.asarray(item["image"]["face_landmarks"], dtype=np.float64) * scale
        out[f"{index:08d}"] = boxes_from_68_points(landmarks, MIN_HALF_LEN_512)
    return out


def _require_weight(weights_dir: Path, n_points: int) -> Path:
    path = weights_dir / DETECTOR_WEIGHTS[n_points]
    if not path.is_file():
        raise FileNotFoundError(
            f"the {n_points}-point landmark detector needs facexlib's weight file {path.name}, not found in "
            f"{weights_dir}; download it from https://github.com/xinntao/facexlib/releases/download/v0.1.0/"
            f"{path.name} into {weights_dir}"
        )
    return path


def awing_landmarks(model: torch.nn.Module, img_bgr: np.ndarray, device: str = "cpu") -> np.ndarray:
    """98 WFLW landmarks (x, y) in image pixels from facexlib's AWing FAN, decoded by the one AWing decoder
    (`facerevive.metrics.landmarks.LandmarkDetector`, facexlib's rule, edge cases included)."""
    from facerevive.metrics.landmarks import LandmarkDetector

    rgb = torch.from_numpy(to_float_rgb(img_bgr).transpose(2, 0, 1))[None].to(device)
    points: np.ndarray = LandmarkDetector(model)(rgb)[0].cpu().numpy()
    return points


def boxes_from_images(
    images: Iterable[tuple[str, np.ndarray]], n_points: int, weights_dir: str | Path, device: str = "cpu"
) -> dict[str, Boxes]:
    """Detect landmarks with facexlib (RetinaFace for 5 points, AWing 98 -> 68 for 68) and build boxes per stem.

    `images` yields (key, BGR uint8 image of an aligned face). The 16 px floor is scaled by width / 512. Images
    where no face is found are reported on stderr and left out.
    """
    weights_dir = Path(weights_dir)
    _require_weight(weights_dir, n_points)
    if n_points == 5:
        from facexlib.detection import init_detection_model

        model = init_detection_model("retinaface_resnet50", device=device, model_rootpath=str(weights_dir))
    else:
        from facexlib.alignment import init_alignment_model, landmark_98_to_68

        model = init_alignment_model("awing_fan", device=device, model_rootpath=str(weights_dir))
    out = {}
    with torch.no_grad():
        for key, img in images:
            min_half_len = MIN_HALF_LEN_512 * img.shape[1] / 512
            if n_points == 5:
                faces = model.detect_faces(img, 0.97)
                if len(faces) == 0:
                    print(f"no face found in {key}; skipped", file=sys.stderr)
                    continue
                best = max(faces, key=lambda f: (f[2] - f[0]) * (f[3] - f[1]))
                out[key] = boxes_from_five_points(np.asarray(best[5:15]).reshape(5, 2), min_half_len)
            else:
                points = landmark_98_to_68(awing_landmarks(model, img, device))
                out[key] = boxes_from_68_points(points, min_half_len)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m facerevive.data.component_boxes",
        description="Build a component-box file (GFPGAN format) from FFHQ's landmark JSON or from face images.",
    )
    parser.add_argument("--out", required=True, help="box file to write (never overwritten)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ffhq-json", help="ffhq-dataset-v2.json with 1024-pixel 68-point landmarks")
    source.add_argument("--images", help="folder, list file, LMDB or zip of aligned faces")
    parser.add_argument("--scale", type=float, default=0.5, help="landmark scale for --ffhq-json (0.5 -> 512)")
    parser.add_argument("--landmarks", type=int, choices=(5, 68), default=5, help="detector for --images")
    parser.add_argument(
        "--weights-dir", default=None, help="facexlib weight folder (default: paths.pretrained_dir's default)"
    )
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.ffhq_json:
        boxes = boxes_from_ffhq_json(args.ffhq_json, args.scale)
    else:
        from facerevive.data.image_io import decode_bgr8
        from facerevive.data.sources import open_source, stem

        src = open_source(args.images)
        images = ((stem(k), decode_bgr8(src.read(k))) for k in src.keys)
        if args.weights_dir is None:
            from facerevive.weights import pretrained_dir

            args.weights_dir = pretrained_dir()
        boxes = boxes_from_images(images, args.landmarks, args.weights_dir, args.device)
    save_boxes(boxes, args.out)
    print(f"wrote {len(boxes)} entries to {args.out}")


if __name__ == "__main__":
    main()
