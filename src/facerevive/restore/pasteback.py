"""Blend restored faces back into the (upscaled) photo with a soft mask.

Two masks, as in facexlib's FaceRestoreHelper:
- the face-parsing mask (ParseNet, when its weights are on disk): skin, brows, eyes, nose, mouth, hair-free
  face region, blurred twice and cleared near the crop border;
- otherwise the square crop footprint, eroded and Gaussian-blurred in proportion to the face size.

Each face is blended inside its own footprint rectangle (plus a margin wider than any erosion or blur), not
over the whole image as facexlib does, so a large photo with many faces is not re-blended per face; away
from the footprint the mask is zero, so the result is the same. Blending accumulates in float32 and is
truncated to the output depth once at the end (facexlib's order), but only inside the footprints
(`paste_faces`): overlapping footprints are merged into one float tile, everything else stays at the output
depth, so an 8000x8000 photo at upscale 2 needs no 3 GB float copy of the whole output.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from facerevive.weights.hint import weights_command
from facerevive.weights.registry import weight_path

log = logging.getLogger(__name__)

# ParseNet's 19 classes that are kept in the paste mask (facexlib MASK_COLORMAP): everything but
# background (0), neck (14), cloth (16), hair (17) and hat (18).
_DROPPED_PARSING_CLASSES = (0, 14, 16, 17, 18)


class FaceParser:
    """facexlib's ParseNet with the official weights from the local weights folder (never downloaded)."""

    def __init__(self, device: str | torch.device = "cpu", model: torch.nn.Module | None = None) -> None:
        from facexlib.parsing.parsenet import ParseNet

        self.device = torch.device(device)
        if model is None:
            path = weight_path("parsenet")
            if not path.is_file():
                raise FileNotFoundError(
                    f"the parsing mask needs {path} (run `{weights_command('parsenet')}`); use mask=square"
                )
            model = ParseNet(in_size=512, out_size=512, parsing_ch=19)
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
        self.model = model.eval().to(self.device)

    @torch.inference_mode()
    def labels(self, faces: list[np.ndarray]) -> list[np.ndarray]:
        """Per-pixel class labels (512x512) of uint8 BGR faces, in one batched forward on the device."""
        resized = [
            face if face.shape[:2] == (512, 512) else cv2.resize(face, (512, 512), interpolation=cv2.INTER_LINEAR)
            for face in faces
        ]
        batch = torch.from_numpy(np.stack(resized)).to(self.device)
        x = batch.permute(0, 3, 1, 2).flip(1).float().div_(255.0).sub_(0.5).div_(0.5).contiguous()
        logits = self.model(x)[0]
        return list(logits.argmax(dim=1).to(torch.uint8).cpu().numpy())


MASKS = ("auto", "parse", "square")


def make_parser(mask: str = "auto", device: str | torch.device = "cpu", aligned: bool = False) -> FaceParser | None:
    """The paste-mask parser for `mask`: 'parse' needs ParseNet, 'auto' uses it when its weights are on disk,
    'square' (and aligned inputs, which are not pasted back) need none."""
    if mask not in MASKS:
        raise ValueError(f"mask must be one of {', '.join(MASKS)}, got {mask!r}")
    if aligned or mask == "square":
        return None
    if mask == "auto" and not weight_path("parsenet").is_file():
        log.info("face-parsing weights not found (%s): pasting with the square soft mask", weight_path("parsenet"))
        return None
    return FaceParser(device)


def parsing_mask(labels: np.ndarray, face_size: int) -> np.ndarray:
    """Soft paste mask in [0, 1] (face_size x face_size, float64) from ParseNet labels."""
    mask = np.where(np.isin(labels, _DROPPED_PARSING_CLASSES), 0.0, 255.0)
    mask = cv2.GaussianBlur(mask, (101, 101), 11)
    mask = cv2.GaussianBlur(mask, (101, 101), 11)
    border = 10
    mask[:border, :] = 0
    mask[-border:, :] = 0
    mask[:, :border] = 0
    mask[:, -border:] = 0
    unit: np.ndarray = mask / 255.0
    resized: np.ndarray = cv2.resize(unit, (face_size, face_size))
    return resized


@dataclass(frozen=True)
class Region:
    """A rectangle [x0, x1) x [y0, y1) of the output image."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def size(self) -> tuple[int, int]:
        return self.x1 - self.x0, self.y1 - self.y0

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def footprint(transform: np.ndarray, face_size: int, image_size: tuple[int, int], upscale: float) -> Region | None:
    """The output rectangle covering a pasted face plus a margin wider than the mask erosion and blur."""
    corners = np.array([[0, 0, 1], [face_size, 0, 1], [0, face_size, 1], [face_size, face_size, 1]], np.float64)
    points = corners @ transform.T
    side = face_size * math.hypot(transform[0, 0], transform[1, 0])
    # The square mask erodes by 2*upscale, then by 2*w_edge and blurs by 2*w_edge, w_edge <= side / 20.
    margin = math.ceil(side / 4 + 4 * upscale) + 8
    height, width = image_size
    x0, y0 = np.floor(points.min(axis=0)).astype(int) - margin
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + margin
    region = Region(max(int(x0), 0), max(int(y0), 0), min(int(x1), width), min(int(y1), height))
    if region.x1 <= region.x0 or region.y1 <= region.y0:
        return None
    return region


def _inverse_like_opencv(transform: np.ndarray) -> list[float]:
    """The destination->source map that cv2.warpAffine derives from `transform`, with its operation order."""
    m = [float(v) for v in transform.ravel()]
    det = m[0] * m[4] - m[1] * m[3]
    det = 1.0 / det if det != 0 else 0.0
    a11, a22 = m[4] * det, m[0] * det
    m[0], m[4] = a11, a22
    m[1] *= -det
    m[3] *= -det
    m[2], m[5] = -m[0] * m[2] - m[1] * m[5], -m[3] * m[2] - m[4] * m[5]
    return m


def _fixed_point_maps(m: list[float], region: Region) -> tuple[np.ndarray, np.ndarray]:
    """warpAffine's fixed-point source coordinates (1/1024 steps, rounded to 1/32 pixel), as remap maps."""
    xs = np.arange(region.x0, region.x1, dtype=np.float64)
    ys = np.arange(region.y0, region.y1, dtype=np.float64)
    rows_x = np.rint((m[1] * ys + m[2]) * 1024).astype(np.int64) + 16
    rows_y = np.rint((m[4] * ys + m[5]) * 1024).astype(np.int64) + 16
    x = (rows_x[:, None] + np.rint(m[0] * xs * 1024).astype(np.int64)[None, :]) >> 5
    y = (rows_y[:, None] + np.rint(m[3] * xs * 1024).astype(np.int64)[None, :]) >> 5
    whole = np.stack([np.clip(x >> 5, -32768, 32767), np.clip(y >> 5, -32768, 32767)], axis=-1).astype(np.int16)
    return whole, ((y & 31) * 32 + (x & 31)).astype(np.uint16)


def _float_maps(m: list[float], region: Region) -> tuple[np.ndarray, np.ndarray]:
    """Source coordinates as OpenCV's float32 warp kernels compute them (row term in double, fused x term)."""
    xs = np.arange(region.x0, region.x1).astype(np.float32).astype(np.float64)
    ys = np.arange(region.y0, region.y1, dtype=np.float64)
    rows_x = (ys * m[1] + m[2]).astype(np.float32).astype(np.float64)
    rows_y = (ys * m[4] + m[5]).astype(np.float32).astype(np.float64)
    map_x = (float(np.float32(m[0])) * xs[None, :] + rows_x[:, None]).astype(np.float32)
    map_y = (float(np.float32(m[3])) * xs[None, :] + rows_y[:, None]).astype(np.float32)
    return map_x, map_y


def _warp_into(image: np.ndarray, transform: np.ndarray, region: Region) -> np.ndarray:
    """`cv2.warpAffine(image, transform, full_size)[region]` without warping the full output size.

    A warp into a shifted small output would round the source coordinates differently from the full-size warp
    (a 1/32-pixel step can move a sharp mask edge by a few percent), so the full-size coordinates are computed
    here and sampled with cv2.remap: fixed-point ones for float64 images (OpenCV's path for them), float32 ones
    for 8-bit and float32 images (OpenCV >= 4.11 kernels); bilinear, zero outside.
    """
    m = _inverse_like_opencv(transform)
    maps = _fixed_point_maps(m, region) if image.dtype == np.float64 else _float_maps(m, region)
    return cv2.remap(image, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def paste_face(
    canvas: np.ndarray,
    face: np.ndarray,
    transform: np.ndarray,
    upscale: float,
    parse_mask: np.ndarray | None = None,
    face_scale: float = 1.0,
    tile: Region | None = None,
) -> None:
    """Blend one restored face into `canvas` (float32 HxWx3, modified in place).

    `face` is the restored uint8 crop, `transform` maps it into the output image (see
    alignment.paste_transform), `parse_mask` its soft parsing mask, or None for the square mask; `face_scale`
    converts the 8-bit face to the canvas range (257 for a 16-bit photo). `canvas` is the whole output image,
    or, when `tile` is given, the tile of it at that rectangle (which must hold the face's footprint).
    """
    face_size = face.shape[0]
    image_size = canvas.shape[:2] if tile is None else (tile.y1, tile.x1)
    region = footprint(transform, face_size, image_size, upscale)
    if region is None:
        return
    warped = _warp_into(face, transform, region).astype(np.float32)
    if face_scale != 1.0:
        warped *= face_scale
    if parse_mask is not None:
        soft = _warp_into(parse_mask, transform, region)[:, :, None]
        pasted = warped
    else:
        footprint_mask = _warp_into(np.ones((face_size, face_size), np.float32), transform, region)
        kernel = int(2 * upscale)
        eroded = cv2.erode(footprint_mask, np.ones((kernel, kernel), np.uint8))
        pasted = eroded[:, :, None] * warped
        edge = int(float(np.sum(eroded)) ** 0.5) // 20
        centre = cv2.erode(eroded, np.ones((edge * 2, edge * 2), np.uint8))
        soft = cv2.GaussianBlur(centre, (edge * 2 + 1, edge * 2 + 1), 0)[:, :, None]
    local = (
        region
        if tile is None
        else Region(region.x0 - tile.x0, region.y0 - tile.y0, region.x1 - tile.x0, region.y1 - tile.y0)
    )
    target = canvas[local.slices]
    target[...] = soft * pasted + (1 - soft) * target


def merged_tiles(regions: list[Region | None]) -> list[tuple[Region, list[int]]]:
    """Rectangles covering the regions, overlapping ones merged (repeatedly), each with its region indices in
    order: every output pixel a face touches lies in exactly one tile, with all the faces that touch it."""
    tiles = [(region, [i]) for i, region in enumerate(regions) if region is not None]
    merged = True
    while merged:
        merged = False
        for a in range(len(tiles)):
            for b in range(a + 1, len(tiles)):
                ra, rb = tiles[a][0], tiles[b][0]
                if ra.x0 < rb.x1 and rb.x0 < ra.x1 and ra.y0 < rb.y1 and rb.y0 < ra.y1:
                    union = Region(min(ra.x0, rb.x0), min(ra.y0, rb.y0), max(ra.x1, rb.x1), max(ra.y1, rb.y1))
                    tiles[a] = (union, sorted(tiles[a][1] + tiles[b][1]))
                    del tiles[b]
                    merged = True
                    break
            if merged:
                break
    return tiles


def paste_faces(
    image: np.ndarray,
    faces: list[np.ndarray],
    transforms: list[np.ndarray],
    upscale: float,
    masks: list[np.ndarray | None],
    face_scale: float = 1.0,
) -> None:
    """Blend every face into `image` (the uint8/uint16 background at the output size, modified in place), in
    order, each tile of overlapping footprints in float32 and truncated once: the same pixels as blending on a
    float copy of the whole image, in the memory of the tiles only."""
    size = image.shape[:2]
    regions = [footprint(t, face.shape[0], size, upscale) for face, t in zip(faces, transforms)]
    for tile, indices in merged_tiles(regions):
        canvas = image[tile.slices].astype(np.float32)
        for i in indices:
            paste_face(canvas, faces[i], transforms[i], upscale, masks[i], face_scale, tile)
        image[tile.slices] = finish_canvas(canvas, image.dtype)


def upscale_background(image: np.ndarray, upscale: float) -> np.ndarray:
    """The photo resized to the output size (Lanczos), the canvas the faces are pasted on."""
    height, width = image.shape[:2]
    size = (int(width * upscale), int(height * upscale))
    return cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4)


def finish_canvas(canvas: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Clip and truncate the float canvas to uint8/uint16 (truncation, as facexlib's astype)."""
    limit = 65535 if dtype == np.uint16 else 255
    finished: np.ndarray = np.clip(canvas, 0, limit).astype(dtype)
    return finished
