"""Reading and writing photos for restoration: validation, bit depth, alpha and grayscale bookkeeping."""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from facerevive.utils.files import atomic_write

MIN_SIDE = 32
MAX_SIDE = 8000


class BadInputError(Exception):
    """An input that cannot be restored; the message names the file and says why."""


@dataclass
class Photo:
    """A photo split into what the network sees and what must be carried through to the output.

    `bgr8` is the 8-bit BGR image used for detection, alignment and the network; `color` holds the colour
    channels at the native depth (uint8 or uint16, BGR) for the background; `alpha` is the untouched alpha
    channel (or None); `gray` says whether the photo has no colour (one channel, or three equal channels).
    """

    bgr8: np.ndarray
    color: np.ndarray
    alpha: np.ndarray | None
    gray: bool
    single_channel: bool
    source: str = "<array>"
    frames: int = 1  # frames in the file (animated GIF/PNG/WebP); only the first is in `color`

    @property
    def bit_depth(self) -> int:
        return 16 if self.color.dtype == np.uint16 else 8


def _to_8bit(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    return np.round(image.astype(np.float32) / 257.0).astype(np.uint8)


def photo_from_array(image: np.ndarray, source: str = "<array>") -> Photo:
    """A Photo from an OpenCV-style array: HxW gray, HxWx1, HxWx3 BGR or HxWx4 BGRA; uint8 or uint16."""
    if image.dtype not in (np.uint8, np.uint16):
        raise BadInputError(f"{source}: unsupported sample type {image.dtype} (8- or 16-bit images only)")
    single_channel = image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1)
    alpha = None
    if single_channel:
        color = cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 3:
        color = image
    elif image.ndim == 3 and image.shape[2] == 4:
        color, alpha = np.ascontiguousarray(image[..., :3]), np.ascontiguousarray(image[..., 3])
    else:
        raise BadInputError(f"{source}: unsupported image shape {image.shape}")
    gray = single_channel or bool(
        np.array_equal(color[..., 0], color[..., 1]) and np.array_equal(color[..., 1], color[..., 2])
    )
    return Photo(_to_8bit(color), color, alpha, gray, single_channel, source)


def check_size(width: int, height: int, source: str, min_side: int = MIN_SIDE, max_side: int = MAX_SIDE) -> None:
    """Reject images too small to hold a face or too large to process safely."""
    if min(width, height) < min_side:
        raise BadInputError(f"{source}: too small ({width}x{height} px, the shorter side must be >= {min_side} px)")
    if max(width, height) > max_side:
        raise BadInputError(f"{source}: too large ({width}x{height} px, the longer side must be <= {max_side} px)")


def check_output_size(width: int, height: int, upscale: float, source: str, max_megapixels: float | None) -> None:
    """Reject a photo whose upscaled output would exceed `max_megapixels` (None: no limit): the output, its
    background and the comparison are held in memory at that size (about 10 bytes a pixel)."""
    out_width, out_height = int(width * upscale), int(height * upscale)
    megapixels = out_width * out_height / 1e6
    if max_megapixels is not None and megapixels > max_megapixels:
        raise BadInputError(
            f"{source}: the output would be {out_width}x{out_height} px ({megapixels:.1f} MP) at upscale {upscale:g}, "
            f"above max_output_megapixels={max_megapixels:g}; lower upscale= or raise max_output_megapixels="
        )


def read_photo(path: str | Path, min_side: int = MIN_SIDE, max_side: int = MAX_SIDE) -> Photo:
    """Read and validate one image file; raises BadInputError with the reason (missing, empty, not an image...)."""
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{path}: no such file")
    if not path.is_file():
        raise BadInputError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise BadInputError(f"{path}: empty file")
    # The header gives the size without decoding, so a huge image is refused before it fills the memory.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as header:
                width, height = header.size
                orientation = header.getexif().get(_EXIF_ORIENTATION, 1)
                frames = int(getattr(header, "n_frames", 1))
    except UnidentifiedImageError:
        raise BadInputError(f"{path}: not an image (unrecognised format)") from None
    except Image.DecompressionBombError:
        raise BadInputError(f"{path}: too large (more pixels than PIL allows to decode)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise BadInputError(f"{path}: unreadable image header ({exc})") from None
    check_size(width, height, str(path), min_side, max_side)
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise BadInputError(f"{path}: corrupt or truncated image data")
    photo = photo_from_array(apply_exif_orientation(image, orientation), str(path))
    photo.frames = frames
    return photo


def frame_count(path: str | Path) -> int:
    """How many frames the image file holds (1 for a still image or a file PIL cannot read)."""
    try:
        with Image.open(path) as image:
            return int(getattr(image, "n_frames", 1))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return 1


_EXIF_ORIENTATION = 0x0112


def apply_exif_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn the stored pixels upright as the EXIF orientation tag (1-8) says; camera photos are often stored
    sideways, and faces must be upright for the detector. (IMREAD_UNCHANGED, needed for alpha and 16 bits,
    does not apply the tag itself.)"""
    if orientation in (2, 4, 5, 7):
        image = image[:, ::-1]
    rotations = {3: 2, 4: 2, 5: 1, 6: 3, 7: 3, 8: 1}.get(orientation, 0)
    return np.ascontiguousarray(np.rot90(image, rotations)) if rotations or orientation in (2, 4, 5, 7) else image


# Where a PNG's text chunks go: after the signature (8 bytes) and the IHDR chunk (4 + 4 + 13 + 4 bytes).
_PNG_AFTER_IHDR = 33


def png_text_chunk(keyword: str, text: str) -> bytes:
    """A PNG tEXt chunk (Latin-1 keyword and text, as the PNG specification requires)."""
    data = keyword.encode("latin-1") + b"\0" + text.encode("latin-1", errors="replace")
    return struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))


def write_image(path: str | Path, image: np.ndarray, text: Mapping[str, str] | None = None) -> Path:
    """Write an image atomically, creating folders; raises OSError naming the file when the encoder fails.
    `text` is stored as PNG text chunks (keyword -> text) when the file is a PNG; other formats leave it out."""
    path = Path(path)
    ok, encoded = cv2.imencode(path.suffix, image)
    if not ok:
        raise OSError(f"could not encode {path}")
    data = encoded.tobytes()
    if text and path.suffix.lower() == ".png":
        chunks = b"".join(png_text_chunk(key, value) for key, value in text.items())
        data = data[:_PNG_AFTER_IHDR] + chunks + data[_PNG_AFTER_IHDR:]
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))
