"""LMD: mean L2 distance between the 98 WFLW landmarks of the restored and GT faces (VQFR's protocol).

Convention: RGB, [0, 1], NCHW, any size; distances are in pixels of the input size. The detector is facexlib's
AWing FAN (4 hourglass modules, `alignment_WFLW_4HG.pth`). Batched version of facexlib's `FAN.get_landmarks`:
resize to 256x256 (bilinear; facexlib uses cv2.resize on uint8, so the resized pixels are rounded to 8 bits
here too), RGB / 255, the last hourglass' heatmaps without the boundary channel, then `calculate_points`:
argmax on the 64x64 heatmap, a quarter-pixel step towards the larger neighbour, +0.5, scaled by size / 64.
facexlib's neighbour lookup falls back to heatmap[4095] / heatmap[0] for every point of an image as soon as
one point touches the last / first row; that is reproduced per image (facexlib is called per image).
facexlib raises IndexError when a peak is the very last heatmap pixel (it reads the pixel after it); here that
neighbour is clamped to the last pixel instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from facerevive.metrics.assets import find_weight
from facerevive.utils.images import quantize_unit

NUM_LANDMARKS = 98
INPUT_SIZE = 256


def build_awing(weights: str | Path | None = "awing") -> nn.Module:
    """facexlib's AWing FAN in eval mode; `weights=None` keeps random weights (tests)."""
    from facexlib.alignment import FAN

    net = FAN(num_modules=4, num_landmarks=NUM_LANDMARKS, device="cpu")
    if weights is not None:
        state = torch.load(find_weight(weights), map_location="cpu", weights_only=True)
        net.load_state_dict(state.get("state_dict", state), strict=True)
    return cast(nn.Module, net.eval().requires_grad_(False))


def heatmap_points(heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, N, 2) sub-pixel (x, y) heatmap coordinates of (B, N, H, W) heatmaps, as facexlib computes them."""
    b, n, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, n, h * w)
    index = flat.argmax(dim=2)
    points = torch.stack((index % w, index // w), dim=2).double()

    def at(position: torch.Tensor) -> torch.Tensor:
        return flat.gather(2, position.clamp(0, h * w - 1)[..., None])[..., 0]

    last, first = torch.full_like(index, 4095), torch.zeros_like(index)
    # numpy's negative index wraps: position -1 reads the last element.
    x_down = at(torch.where(index - 1 < 0, index - 1 + h * w, index - 1))
    x_up = at(index + 1)
    y_up = at(torch.where(((index + w) >= 4096).any(dim=1, keepdim=True), last, index + w))
    y_down = at(torch.where(((index - w) <= 0).any(dim=1, keepdim=True), first, index - w))
    step = torch.stack((torch.sign(x_up - x_down), torch.sign(y_up - y_down)), dim=2).double() * 0.25
    return points + step + 0.5


class LandmarkDetector(nn.Module):
    """98 landmarks per face, in the input's pixel coordinates; `channels_last` runs the FAN on NHWC
    activations (faster on CPU, equal to round-off)."""

    def __init__(self, net: nn.Module, channels_last: bool = True) -> None:
        super().__init__()
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net = net.to(memory_format=self.memory_format)

    @torch.inference_mode()
    def forward(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        x = img
        if (h, w) != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(img, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
            x = quantize_unit(x)
        outputs, _ = self.net(x.contiguous(memory_format=self.memory_format))
        heat = outputs[-1][:, :-1].float()
        scale = torch.tensor([w / 64, h / 64], dtype=torch.float64, device=heat.device)
        return heatmap_points(heat) * scale


def landmark_distance(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per image mean over landmarks of the Euclidean distance, (B,)."""
    return (pred - gt).pow(2).sum(dim=2).sqrt().mean(dim=1)
