"""The Python API: `Restorer("gfpgan_v1.4").restore(image)` on a numpy array or a PIL image.

It is the pipeline of configs/restore.yaml (`build_pipeline`, the same options and defaults as the command
line) with the conversions a caller needs around it: PIL images and RGB arrays in, the same kind out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from PIL import Image

from facerevive.restore.build import ModelCaveat, build_pipeline, model_caveat
from facerevive.restore.images import Photo, check_size, photo_from_array
from facerevive.restore.pipeline import RestorePipeline, RestoreResult
from facerevive.weights.provenance import weights_record

log = logging.getLogger(__name__)

ChannelOrder = Literal["rgb", "bgr"]
# PIL modes read as they are (gray, 16-bit gray, RGB, RGBA); any other mode is converted to RGB(A) first.
_PIL_AS_IS = {"L", "I;16", "RGB", "RGBA"}


@dataclass
class Restoration:
    """What `Restorer.restore` gives back, in the caller's format (PIL images for a PIL input, arrays in the
    caller's channel order for an array): the restored photo, the aligned input crops and the restored faces
    (one per face, in the same order), and the face boxes (x1, y1, x2, y2) in restored-photo pixels."""

    image: Any
    faces: list[Any] = field(default_factory=list)
    cropped_faces: list[Any] = field(default_factory=list)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))


def _bgr_array(image: np.ndarray | Image.Image, channels: ChannelOrder | None) -> np.ndarray:
    """`image` as an OpenCV-layout array (gray, BGR or BGRA; uint8 or uint16)."""
    if isinstance(image, Image.Image):
        if image.mode not in _PIL_AS_IS:
            image = image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB")
        array = np.asarray(image)
        return _swap(array) if array.ndim == 3 else array
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array or a PIL image, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] in (3, 4):
        if channels not in ("rgb", "bgr"):
            raise ValueError(
                f"a colour array needs its channel order: channels='bgr' (OpenCV) or channels='rgb' "
                f"(PIL, imageio, matplotlib), got channels={channels!r}"
            )
        return _swap(image) if channels == "rgb" else image
    return image


def _swap(array: np.ndarray) -> np.ndarray:
    """RGB(A) <-> BGR(A): the first and third channels exchanged (alpha stays last)."""
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        return array
    order = [2, 1, 0, 3][: array.shape[2]]
    return np.ascontiguousarray(array[..., order])


def _to_caller(image: np.ndarray, as_pil: bool, channels: ChannelOrder | None) -> Any:
    """An OpenCV-layout result back in the caller's format."""
    if as_pil:
        return Image.fromarray(_swap(image))
    return _swap(image) if channels == "rgb" else image


class Restorer:
    """Restores the faces of photos in memory.

    `weights` is what `restore.py weights=` takes (a release name, a checkpoint or export path, an ONNX file,
    random:<name>, or another project's model: 'codeformer', 'restoreformer', 'restoreformer++', their release
    files, random:codeformer, ...); `options` are the other keys of configs/restore.yaml's pipeline, with the same
    defaults (`upscale`, `device`, `detector`, `aligned`, `only_center_face`, `weights_overrides`, ...).
    `seed` and `fidelity` are the defaults of each `restore` call (fidelity None: the network's own).
    A model that is not a full release (random weights, smaller than 512 px, a quickstart checkpoint) logs a
    one-line warning, and `caveat` says why.
    """

    def __init__(
        self, weights: str = "gfpgan_v1.4", seed: int = 0, fidelity: float | None = None, **options: Any
    ) -> None:
        self.pipeline: RestorePipeline = build_pipeline(weights=weights, **options)
        self.seed = seed
        self.pipeline.restorer.checked_fidelity(fidelity)
        self.fidelity = fidelity
        source = weights_record(weights, hash_file=False).source  # an export says what it was made from
        self.caveat: ModelCaveat | None = model_caveat(weights, self.pipeline.face_size, source)
        if self.caveat is not None:
            log.warning("%s", self.caveat.message)

    def restore(
        self,
        image: np.ndarray | Image.Image,
        channels: ChannelOrder | None = None,
        seed: int | None = None,
        fidelity: float | None = None,
    ) -> Restoration:
        """Restore every face of `image`: a PIL image, or an array (H, W) gray or (H, W, 3|4) colour, uint8 or
        uint16, whose channel order `channels` ('rgb' or 'bgr') must state. A photo without a detected face
        comes back upscaled with no faces. `seed` (default: the Restorer's) seeds the StyleGAN2 noise; `fidelity`
        (0..1, default: the Restorer's) is checked by this call."""
        weight = self.fidelity if fidelity is None else fidelity
        self.pipeline.restorer.checked_fidelity(weight)
        as_pil = isinstance(image, Image.Image)
        array = _bgr_array(image, channels)
        height, width = array.shape[:2]
        check_size(width, height, "image")
        photo: Photo = photo_from_array(array, "image")
        result: RestoreResult = self.pipeline.enhance(photo, seed=self.seed if seed is None else seed, fidelity=weight)
        order = None if as_pil else channels
        return Restoration(
            image=_to_caller(result.restored, as_pil, order),
            faces=[_to_caller(face, as_pil, order) for face in result.restored_faces],
            cropped_faces=[_to_caller(face, as_pil, order) for face in result.cropped_faces],
            boxes=result.boxes,
        )
