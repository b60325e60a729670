"""The fidelity strip for the docs: one aligned face restored at several fidelity values, side by side.

    python -m facerevive.restore.strip --weights gfpgan_v1.4 --output docs/restore/fidelity_strip.png

With no weights on disk use --weights random:gfpgan_v1.4: the strip is then labelled RANDOM WEIGHTS and only shows
that the knob moves the output continuously, not what a trained model does.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import skimage.data
from torch import nn

from facerevive.restore.alignment import estimate_alignment, landmarks_from_detections, warp_face
from facerevive.restore.build import build_network, is_random_model
from facerevive.restore.detection import TinyRetinaFaceDetector
from facerevive.restore.images import write_image
from facerevive.restore.network import FaceRestorer, face_size_of
from facerevive.utils.device import resolve_device

DEFAULT_VALUES = (0.0, 0.25, 0.5, 0.75, 1.0)
# scikit-image ships no type hints: its sample photo loader, typed.
_astronaut_photo = cast(Callable[[], np.ndarray], skimage.data.astronaut)


def _caption(tile: np.ndarray, text: str) -> np.ndarray:
    band = np.full((28, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (4, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([band, tile], axis=0)


def fidelity_strip(
    net: nn.Module, face: np.ndarray, values: Sequence[float] = DEFAULT_VALUES, tile: int = 128, note: str | None = None
) -> np.ndarray:
    """input | restored at each fidelity value, plus a second row with |output - output at fidelity 1| x4."""
    restorer = FaceRestorer(net, next(net.parameters()).device, noise="fixed")
    outputs = [restorer.restore([face], fidelity=v)[0] for v in values]
    reference = outputs[values.index(1.0)] if 1.0 in values else outputs[-1]

    def fit(image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, (tile, tile), interpolation=cv2.INTER_AREA)

    top = [_caption(fit(face), "input")] + [_caption(fit(o), f"fidelity {v:g}") for o, v in zip(outputs, values)]
    diffs = [np.clip(np.abs(o.astype(int) - reference) * 4, 0, 255).astype(np.uint8) for o in outputs]
    bottom = [_caption(np.full((tile, tile, 3), 255, np.uint8), "|diff to 1| x4")]
    bottom += [_caption(fit(d), f"{v:g}") for d, v in zip(diffs, values)]
    strip = np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)
    if note:
        band = np.full((30, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(band, note, (4, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 200), 1, cv2.LINE_AA)
        strip = np.concatenate([band, strip], axis=0)
    return strip


def astronaut_face(face_size: int) -> np.ndarray:
    """The aligned face of scikit-image's astronaut photo (NASA, public domain)."""
    image = cv2.cvtColor(_astronaut_photo(), cv2.COLOR_RGB2BGR)
    detections = TinyRetinaFaceDetector().detect(image)
    matrix = estimate_alignment(landmarks_from_detections(detections[:1])[0], face_size)
    return warp_face(image, matrix, face_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", "--model", dest="weights", default="random:gfpgan_v1.4")
    parser.add_argument("--output", default="docs/restore/fidelity_strip.png")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--values", default=",".join(str(v) for v in DEFAULT_VALUES))
    args = parser.parse_args()
    net = build_network(args.weights, resolve_device(args.device))
    values = [float(v) for v in args.values.split(",")]
    note = (
        f"{args.weights}: RANDOM WEIGHTS (shows the knob, not a restoration)"
        if is_random_model(args.weights)
        else args.weights
    )
    strip = fidelity_strip(net, astronaut_face(face_size_of(net)), values, note=note)
    print(write_image(Path(args.output), strip))


if __name__ == "__main__":
    main()
