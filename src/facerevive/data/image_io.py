"""Decode and check face images before they reach the degradation pipeline.

Also the one home of the data package's pixel conversions: uint8 BGR -> float RGB [0, 1] (`to_float_rgb`),
float [0, 1] -> uint8 (`to_uint8`) and HWC arrays -> normalised CHW tensors (`to_chw_tensor`).

Training wants 8-bit, 3-channel, square images of the configured size. Anything else (corrupt, truncated,
not an image, grayscale, with alpha, 16-bit, wrongly sized) raises `BadImageError` with the reason, so the
dataset can skip the file with one warning naming it instead of crashing mid-training or silently training on
a wrong sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"
JPEG_START = b"\xff\xd8"
JPEG_END = b"\xff\xd9"


class BadImageError(ValueError):
    """The bytes are not a usable training face; the message says why."""


def _check_complete(data: bytes) -> None:
    """Reject PNG/JPEG streams cut short: OpenCV would decode a partial image with only a log line."""
    if data.startswith(PNG_SIGNATURE) and not data.rstrip(b"\x00").endswith(PNG_END):
        raise BadImageError("truncated PNG (no IEND chunk at the end)")
    if data.startswith(JPEG_START) and not data.rstrip(b"\x00").endswith(JPEG_END):
        raise BadImageError("truncated JPEG (no end-of-image marker)")


def decode_bgr8(data: bytes) -> np.ndarray:
    """Decode to a uint8 BGR (h, w, 3) array, or raise BadImageError for anything that is not exactly that."""
    if not data:
        raise BadImageError("empty file")
    _check_complete(data)
    try:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # OpenCV >= 5 raises for a header beyond its pixel limit (a decompression bomb)
        raise BadImageError(f"not decodable ({str(exc).strip().splitlines()[-1]})") from None
    if img is None:
        raise BadImageError("not a decodable image")
    if img.dtype != np.uint8:
        raise BadImageError(f"{img.dtype} pixels (16-bit or float); 8-bit images are expected")
    if img.ndim == 2 or img.shape[2] == 1:
        raise BadImageError("grayscale image; 3-channel colour faces are expected")
    if img.shape[2] == 4:
        raise BadImageError("image with an alpha channel (RGBA); 3-channel colour faces are expected")
    if img.shape[2] != 3:
        raise BadImageError(f"{img.shape[2]}-channel image; 3 channels are expected")
    return img


def load_face(data: bytes, out_size: int, resize: bool = False) -> np.ndarray:
    """Decode a training face to float32 RGB [0, 1] of shape (out_size, out_size, 3).

    A square image of another size is resized with INTER_AREA when `resize` is true and rejected otherwise.
    """
    img = decode_bgr8(data)
    height, width = img.shape[:2]
    if (height, width) != (out_size, out_size):
        if not resize:
            raise BadImageError(f"size {width}x{height}, expected {out_size}x{out_size} (set resize_gt to resize)")
        if height != width:
            raise BadImageError(f"non-square size {width}x{height}; aligned square faces are expected")
        img = cv2.resize(img, (out_size, out_size), interpolation=cv2.INTER_AREA)
    return to_float_rgb(img)


def to_float_rgb(img_bgr8: np.ndarray) -> np.ndarray:
    """uint8 BGR to float32 RGB in [0, 1] (x / 255, as BasicSR's imfrombytes)."""
    rgb = cv2.cvtColor(img_bgr8, cv2.COLOR_BGR2RGB)
    return rgb.astype(np.float32) / np.float32(255.0)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float [0, 1] to uint8 levels: round half to even (as OpenCV narrows a float image), then clip."""
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def to_chw_tensor(
    img: np.ndarray, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> torch.Tensor:
    """HWC float [0, 1] -> CHW float32 tensor, `(x - mean) / std` per channel when given (torchvision's float32
    arithmetic; mean = std = 0.5 gives the networks' [-1, 1])."""
    out = np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32)
    if mean is not None:
        out -= np.asarray(mean, dtype=np.float32)[:, None, None]
    if std is not None:
        out /= np.asarray(std, dtype=np.float32)[:, None, None]
    return torch.from_numpy(out)


def load_rgb(data: bytes, name: str) -> np.ndarray:
    """Decode any 8-bit colour image for evaluation (float32 RGB [0, 1]); errors name the file."""
    try:
        return to_float_rgb(decode_bgr8(data))
    except BadImageError as exc:
        raise BadImageError(f"{name}: {exc}") from exc
