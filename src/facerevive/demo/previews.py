"""The images the demo page shows: previews shrunk or enlarged for the page, and the banner of a model's caveat."""

from __future__ import annotations

import cv2
import numpy as np

BANNER_COLOR = (30, 30, 200)  # BGR red: a model that is not a restoration must be impossible to miss
MIN_FACE_PREVIEW = 256  # face previews lower than this (a small model's) are enlarged for the page


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    """`image` scaled down (area filter) so that its longer side is at most `max_side`; smaller ones unchanged."""
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def fit_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` resized to `size` (width, height): Lanczos when enlarging, area when shrinking."""
    if image.shape[1::-1] == size:
        return image
    shrinking = image.shape[1] > size[0]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4)


def with_banner(image: np.ndarray, text: str) -> np.ndarray:
    """A copy of the 8-bit BGR `image` with `text` in white on a red band along its bottom edge."""
    out = image.copy()
    height, width = out.shape[:2]
    band = max(14, height // 14)
    out[height - band :] = BANNER_COLOR
    scale = band / 40
    (text_width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    room = max(1, int(width * 0.45))  # the text stays in the right half
    if text_width > room:
        scale *= room / text_width
        text_width = room
    thickness = max(1, round(scale * 2))
    # Right-aligned: on a before/after slider and on an input | restored pair, the restored side is the right one.
    origin = (max(2, width - text_width - 4), height - max(2, band // 4))
    cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


def enlarge(image: np.ndarray, min_height: int) -> np.ndarray:
    """`image` scaled up (Lanczos) to `min_height` px when it is lower; a small model's faces stay visible."""
    height, width = image.shape[:2]
    if height >= min_height:
        return image
    return fit_to(image, (round(width * min_height / height), min_height))
