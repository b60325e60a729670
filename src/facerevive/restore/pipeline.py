"""One photo in, restored photo out: detect, align, restore in a batch, paste back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from facerevive.restore.alignment import estimate_alignment, landmarks_from_detections, paste_transform, warp_face
from facerevive.restore.detection import FaceDetector, select_faces
from facerevive.restore.images import Photo
from facerevive.restore.network import FaceRestorer
from facerevive.restore.pasteback import (
    FaceParser,
    finish_canvas,
    parsing_mask,
    paste_faces,
    upscale_background,
)


@dataclass
class RestoreResult:
    """Everything one photo produces; `boxes` are face boxes in output (upscaled) pixels."""

    restored: np.ndarray
    source: np.ndarray
    upscale: float
    cropped_faces: list[np.ndarray] = field(default_factory=list)
    restored_faces: list[np.ndarray] = field(default_factory=list)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    detections: np.ndarray = field(default_factory=lambda: np.zeros((0, 15)))

    @property
    def num_faces(self) -> int:
        return len(self.restored_faces)

    @property
    def upscaled_input(self) -> np.ndarray:
        """The 8-bit input at the output size, for comparisons (computed on demand, not in the hot path)."""
        return upscale_background(self.source, self.upscale)


@dataclass
class PreparedPhoto:
    """A photo with its faces found and aligned, waiting for the network (`RestorePipeline.prepare`)."""

    photo: Photo
    detections: np.ndarray
    matrices: list[np.ndarray]
    cropped: list[np.ndarray]


class RestorePipeline:
    """The whole-photo restoration pipeline.

    `detector` finds faces (not needed with `aligned=True`, where the input is already an aligned face);
    `parser` gives the parsing paste mask (None: the square mask); `bg_upsampler(image, upscale)` upsamples the
    background (None: Lanczos resize); `keep_gray` turns the result of a colourless photo back to gray, since
    the network tends to colourise it.
    """

    def __init__(
        self,
        restorer: FaceRestorer,
        detector: FaceDetector | None = None,
        upscale: float = 2,
        parser: FaceParser | None = None,
        bg_upsampler: Callable[[np.ndarray, float], np.ndarray] | None = None,
        only_center_face: bool = False,
        aligned: bool = False,
        keep_gray: bool = True,
    ) -> None:
        if upscale <= 0:
            raise ValueError(f"upscale must be > 0, got {upscale}")
        if detector is None and not aligned:
            raise ValueError("a detector is needed unless aligned=True")
        self.restorer = restorer
        self.detector = detector
        self.upscale = upscale
        self.parser = parser
        self.bg_upsampler = bg_upsampler
        self.only_center_face = only_center_face
        self.aligned = aligned
        self.keep_gray = keep_gray

    @property
    def face_size(self) -> int:
        return self.restorer.face_size

    def detect(self, photo: Photo) -> np.ndarray:
        """Detections (N, 15) of the faces to restore."""
        if self.detector is None:
            raise ValueError("this pipeline restores aligned faces: it has no detector")
        detections = self.detector.detect(photo.bgr8)
        return select_faces(detections, photo.bgr8.shape[:2], self.only_center_face)

    def prepare(self, photo: Photo, detections: np.ndarray | None = None) -> PreparedPhoto:
        """Detect (unless `detections` (N, 15) are given) and align the faces of `photo`: all the work before the
        network. An aligned input is its own face, resized to the network's size."""
        if self.aligned:
            face = photo.bgr8
            if face.shape[:2] != (self.face_size, self.face_size):
                face = cv2.resize(face, (self.face_size, self.face_size))
            return PreparedPhoto(photo, np.zeros((0, 15)), [], [face])
        if detections is None:
            detections = self.detect(photo)
        matrices = [estimate_alignment(points, self.face_size) for points in landmarks_from_detections(detections)]
        cropped = [warp_face(photo.bgr8, matrix, self.face_size) for matrix in matrices]
        return PreparedPhoto(photo, detections, matrices, cropped)

    def enhance(
        self, photo: Photo, seed: int = 0, detections: np.ndarray | None = None, fidelity: float | None = None
    ) -> RestoreResult:
        """Restore the faces of `photo`; `detections` (N, 15) skip the detector when given; `fidelity` (0..1,
        None: the network's default) is the restorer's per-call weight (`FaceRestorer.restore_tensor`)."""
        self.restorer.checked_fidelity(fidelity)  # before the detector runs
        prepared = self.prepare(photo, detections)
        return self.finish(prepared, self.restorer.restore(prepared.cropped, seed, fidelity=fidelity))

    def enhance_many(self, photos: list[Photo], seed: int = 0, fidelity: float | None = None) -> list[RestoreResult]:
        """Restore several photos with their faces batched together through the network (the restorer's
        `batch_size` faces a forward); each photo comes out as `enhance(photo, seed, fidelity=...)` gives it
        alone."""
        self.restorer.checked_fidelity(fidelity)
        return self.restore_prepared([self.prepare(photo) for photo in photos], seed, fidelity)

    def restore_prepared(
        self, prepared: list[PreparedPhoto], seed: int = 0, fidelity: float | None = None
    ) -> list[RestoreResult]:
        """Restore prepared photos (`prepare`) with their faces batched together; see `enhance_many`."""
        sizes = [len(item.cropped) for item in prepared]
        faces = [face for item in prepared for face in item.cropped]
        restored = self.restorer.restore(faces, seed, sizes, fidelity)
        bounds = np.cumsum([0, *sizes])
        return [self.finish(item, restored[a:b]) for item, a, b in zip(prepared, bounds[:-1], bounds[1:])]

    def finish(self, prepared: PreparedPhoto, restored_faces: list[np.ndarray]) -> RestoreResult:
        """Paste the restored faces of a prepared photo back: all the work after the network."""
        photo = prepared.photo
        if self.aligned:
            return self._finish_aligned(prepared.cropped[0], restored_faces[0], photo)
        matrices, detections = prepared.matrices, prepared.detections
        if self.bg_upsampler is not None:
            background = _resize_to(self.bg_upsampler(photo.color, self.upscale), photo.color.shape[:2], self.upscale)
        else:
            background = upscale_background(photo.color, self.upscale)
        if background.dtype != photo.color.dtype:  # an upsampler of another depth: clipped and truncated
            background = finish_canvas(background.astype(np.float32), photo.color.dtype)
        masks: list[np.ndarray | None] = [None] * len(restored_faces)
        if self.parser is not None and restored_faces:
            masks = [parsing_mask(labels, self.face_size) for labels in self.parser.labels(restored_faces)]
        face_scale = 257.0 if photo.bit_depth == 16 else 1.0
        transforms = [paste_transform(matrix, self.upscale) for matrix in matrices]
        paste_faces(background, restored_faces, transforms, self.upscale, masks, face_scale)
        restored = self._finish(background, photo)
        return RestoreResult(
            restored=restored,
            source=photo.bgr8,
            upscale=self.upscale,
            cropped_faces=prepared.cropped,
            restored_faces=restored_faces,
            boxes=detections[:, :4].astype(np.float64) * self.upscale,
            detections=detections,
        )

    def _finish_aligned(self, face: np.ndarray, restored_face: np.ndarray, photo: Photo) -> RestoreResult:
        out = restored_face.astype(np.uint16) * 257 if photo.bit_depth == 16 else restored_face
        return RestoreResult(
            restored=self._finish(out, photo, size=(self.face_size, self.face_size)),
            source=face,
            upscale=1,
            cropped_faces=[face],
            restored_faces=[restored_face],
            boxes=np.array([[0.0, 0.0, self.face_size - 1, self.face_size - 1]]),
        )

    def _finish(self, image: np.ndarray, photo: Photo, size: tuple[int, int] | None = None) -> np.ndarray:
        """Back to the photo's channel layout: gray stays gray (when keep_gray), alpha is carried over."""
        if photo.gray and self.keep_gray:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            if not photo.single_channel:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if photo.alpha is not None:
            height, width = image.shape[:2] if size is None else size
            alpha = cv2.resize(photo.alpha, (width, height), interpolation=cv2.INTER_LINEAR)
            color = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            image = np.concatenate([color, alpha[:, :, None]], axis=2)
        return image


def _resize_to(image: np.ndarray, source_size: tuple[int, int], upscale: float) -> np.ndarray:
    height, width = source_size
    size = (int(width * upscale), int(height * upscale))
    if image.shape[1::-1] == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4)
