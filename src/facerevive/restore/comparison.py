"""The side-by-side comparison images: the input (upscaled) | the restored photo (faces boxed, an option), and
per face the aligned input crop | the restored face (the official `cmp/<name>_<k>.png`)."""

from __future__ import annotations

import cv2
import numpy as np

BOX_COLOR = (60, 220, 60)
MAX_COMPARISON_WIDTH = 3000


def to_display(image: np.ndarray) -> np.ndarray:
    """Any output image (gray/BGR/BGRA, 8- or 16-bit) as 8-bit BGR for display."""
    if image.dtype == np.uint16:
        image = np.round(image.astype(np.float32) / 257.0).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return np.ascontiguousarray(image[..., :3])
    return image


def draw_boxes(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """A copy of `image` with a rectangle around each (x1, y1, x2, y2) box."""
    out = image.copy()
    thickness = max(2, round(max(image.shape[:2]) / 400))
    for x1, y1, x2, y2 in np.round(boxes).astype(int):
        cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), BOX_COLOR, thickness)
    return out


def _label(image: np.ndarray, text: str) -> None:
    scale = max(0.5, image.shape[1] / 900)
    thickness = max(1, round(scale * 2))
    origin = (int(10 * scale), int(30 * scale))
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` at `size` (width, height): Lanczos when enlarging (the background's resize), area when shrinking."""
    if image.shape[1::-1] == size:
        return image
    shrink = image.shape[1] > size[0]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4)


def comparison_image(
    input_image: np.ndarray, restored: np.ndarray, boxes: np.ndarray | None, note: str | None = None
) -> np.ndarray:
    """input | restored side by side (same size), faces boxed on both halves, labelled.

    `input_image` is the input at any size (the photo itself, or upscaled to the output size); `boxes` are in
    output (upscaled) coordinates (None: no boxes); `note` (e.g. 'RANDOM WEIGHTS') is added to the labels. A
    result wider than MAX_COMPARISON_WIDTH is shrunk half by half before anything is drawn, so a huge photo never
    gets a full-size copy of its input or output for the comparison.
    """
    height, width = restored.shape[:2]
    scale = min(1.0, MAX_COMPARISON_WIDTH / (2 * width + max(4, width // 100)))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Copies: the labels are drawn in place, and an image already at the display size is not resized.
    left, right = to_display(_resized(input_image, size)).copy(), to_display(_resized(restored, size)).copy()
    if boxes is not None:
        left, right = draw_boxes(left, boxes * scale), draw_boxes(right, boxes * scale)
    suffix = f" ({note})" if note else ""
    _label(left, "input")
    _label(right, f"restored{suffix}")
    gap = np.full((left.shape[0], max(4, left.shape[1] // 100), 3), 255, np.uint8)
    return np.concatenate([left, gap, right], axis=1)


def face_comparison(cropped_face: np.ndarray, restored_face: np.ndarray) -> np.ndarray:
    """The aligned input crop | the restored face, side by side at the model's face size, as GFPGAN's
    inference script writes them to cmp/ (no gap, no label: the two halves line up pixel for pixel)."""
    if cropped_face.shape != restored_face.shape:
        raise ValueError(f"crop {cropped_face.shape} and restored face {restored_face.shape} differ in shape")
    return np.concatenate([cropped_face, restored_face], axis=1)
