"""The side-by-side comparison images: the input (upscaled) | the restored photo (faces boxed, an option), and
per face the aligned input crop | the restored face (the official `cmp/<name>_<k>.png`)."""

from __future__ import annotations

import cv2
import numpy as np

BOX_COLOR = (60, 220, 60)
MAX_COMPARISON_WIDTH = 3000
# The halves' labels: white text on an opaque near-black box with a light edge (contrast about 18:1 whatever the
# photo), never smaller than MIN_LABEL_SCALE (about 9 px capitals).
LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX
LABEL_TEXT = (255, 255, 255)
LABEL_BOX = (24, 24, 24)
LABEL_EDGE = (200, 200, 200)
MIN_LABEL_SCALE = 0.4
MIN_HALF_WIDTH = 160  # each half of a comparison is at least this wide (px), so that its label fits


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


def _wrap(text: str, scale: float, thickness: int, room: int) -> list[str]:
    """`text` in lines no wider than `room` px where words allow (a single long word stays one line)."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and cv2.getTextSize(candidate, LABEL_FONT, scale, thickness)[0][0] <= room:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines or [""]


def draw_label(image: np.ndarray, text: str) -> tuple[int, int, int, int]:
    """Draw `text` in white on an opaque dark box with a light edge in the top-left corner of the 8-bit BGR
    `image` (in place), wrapped to the image's width: readable on any photo, white, dark or small. Returns the
    box (x1, y1, x2, y2)."""
    height, width = image.shape[:2]
    scale = max(MIN_LABEL_SCALE, width / 900)
    thickness = max(1, round(scale * 1.5))
    margin, pad = max(2, round(8 * scale)), max(3, round(6 * scale))
    lines = _wrap(text, scale, thickness, width - 2 * (margin + pad))
    sizes = [cv2.getTextSize(line, LABEL_FONT, scale, thickness) for line in lines]
    line_height = max(h + baseline for (_, h), baseline in sizes) + pad // 2
    x1, y1 = margin, margin
    x2 = min(width - 1, x1 + max(w for (w, _), _ in sizes) + 2 * pad)
    y2 = min(height - 1, y1 + line_height * len(lines) + pad)
    cv2.rectangle(image, (x1, y1), (x2, y2), LABEL_BOX, thickness=-1)
    cv2.rectangle(image, (x1, y1), (x2, y2), LABEL_EDGE, thickness=1)
    for index, (line, ((_, _), baseline)) in enumerate(zip(lines, sizes)):
        origin = (x1 + pad, y1 + pad // 2 + line_height * (index + 1) - baseline)
        cv2.putText(image, line, origin, LABEL_FONT, scale, LABEL_TEXT, thickness, cv2.LINE_AA)
    return x1, y1, x2, y2


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
    gets a full-size copy of its input or output for the comparison; one narrower than MIN_HALF_WIDTH per half is
    enlarged to it. The labels are white on an opaque dark box (`draw_label`).
    """
    height, width = restored.shape[:2]
    scale = min(1.0, MAX_COMPARISON_WIDTH / (2 * width + max(4, width // 100)))
    scale = max(scale, MIN_HALF_WIDTH / width)  # a small photo is enlarged: its faces and labels stay visible
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Copies: the labels are drawn in place, and an image already at the display size is not resized.
    left, right = to_display(_resized(input_image, size)).copy(), to_display(_resized(restored, size)).copy()
    if boxes is not None:
        left, right = draw_boxes(left, boxes * scale), draw_boxes(right, boxes * scale)
    suffix = f" ({note})" if note else ""
    draw_label(left, "input")
    draw_label(right, f"restored{suffix}")
    gap = np.full((left.shape[0], max(4, left.shape[1] // 100), 3), 255, np.uint8)
    return np.concatenate([left, gap, right], axis=1)


def face_comparison(cropped_face: np.ndarray, restored_face: np.ndarray) -> np.ndarray:
    """The aligned input crop | the restored face, side by side at the model's face size, as GFPGAN's
    inference script writes them to cmp/ (no gap, no label: the two halves line up pixel for pixel)."""
    if cropped_face.shape != restored_face.shape:
        raise ValueError(f"crop {cropped_face.shape} and restored face {restored_face.shape} differ in shape")
    return np.concatenate([cropped_face, restored_face], axis=1)
