"""The labels of restore's comparison images are readable on any photo: on a white, a dark and a tiny one the text
and its background differ by a WCAG contrast of at least 7:1, the text is at least 8 px high, and the whole label
lies inside the image."""

from __future__ import annotations

import numpy as np
import pytest

from facerevive.restore.comparison import comparison_image, draw_label

pytestmark = pytest.mark.unit

NOTE = "RANDOM WEIGHTS"


def _luminance(bgr: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of 8-bit BGR pixels."""
    c = bgr[..., ::-1].astype(np.float64) / 255
    linear = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def _photo(kind: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    if kind == "white":  # a scan with a white border
        return np.full((300, 300, 3), 255, np.uint8)
    if kind == "dark":  # an underexposed photo
        return rng.integers(0, 25, (300, 300, 3), dtype=np.uint8)
    return rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)  # a tiny, busy photo


def _contrast(label: np.ndarray) -> tuple[float, int]:
    """(contrast ratio between the text and its background inside a label box, text height in px)."""
    luminance = _luminance(label)
    text = luminance > 0.5
    assert text.sum() > 20, "no text in the label"
    bright, dark = np.median(luminance[text]), np.median(luminance[~text])
    rows = np.flatnonzero(text.any(axis=1))
    return (bright + 0.05) / (dark + 0.05), int(rows[-1] - rows[0] + 1)


@pytest.mark.parametrize("kind", ["white", "dark", "tiny"])
def test_label_contrast_on_any_photo(kind):
    photo = _photo(kind)
    restored = np.repeat(np.repeat(photo, 2, axis=0), 2, axis=1)
    image = comparison_image(photo, restored, None, NOTE)
    width = next(w for w in range(1, image.shape[1]) if 2 * w + max(4, w // 100) == image.shape[1])  # one half
    half = image[:, :width].copy()
    x1, y1, x2, y2 = draw_label(half, f"restored ({NOTE})")
    assert 0 <= x1 < x2 < half.shape[1] - 1 and 0 <= y1 < y2 < half.shape[0] - 1, "label cut off at the edge"
    ratio, text_height = _contrast(half[y1 + 2 : y2 - 1, x1 + 2 : x2 - 1])
    assert ratio >= 7, f"text/background contrast {ratio:.1f}:1 on a {kind} photo"
    assert text_height >= 8, f"text {text_height} px high on a {kind} photo"
    # The label drawn in the comparison itself is the same box, in the right half.
    right = image[:, image.shape[1] - half.shape[1] :]
    assert np.array_equal(right[y1 : y2 + 1, x1 : x2 + 1], half[y1 : y2 + 1, x1 : x2 + 1])


def test_a_tiny_comparison_is_enlarged_to_show_its_label():
    photo = _photo("tiny")
    image = comparison_image(photo, np.repeat(np.repeat(photo, 2, axis=0), 2, axis=1), None, NOTE)
    assert image.shape[1] >= 2 * 160
