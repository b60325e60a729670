"""Optional Real-ESRGAN background upsampler (the official GFPGAN default), used only when available."""

from __future__ import annotations

import importlib.util
import logging

import numpy as np
import torch

from facerevive.weights.hint import weights_command
from facerevive.weights.registry import weight_path

log = logging.getLogger(__name__)


class RealESRGANBackground:
    """RealESRGAN_x2plus (RRDBNet, 23 blocks) through the `realesrgan` package, tiled like the official CLI.

    Needs the `realesrgan` package and RealESRGAN_x2plus.pth in the weights folder; raises a clear error
    otherwise instead of downloading anything.
    """

    def __init__(self, device: str | torch.device = "cpu", tile: int = 400, model_path: str | None = None) -> None:
        if importlib.util.find_spec("realesrgan") is None:
            raise RuntimeError("bg_upsampler=realesrgan needs the realesrgan package (pip install realesrgan)")
        path = model_path or str(weight_path("realesrgan_x2plus"))
        if model_path is None and not weight_path("realesrgan_x2plus").is_file():
            raise FileNotFoundError(
                f"bg_upsampler=realesrgan needs {path} (run `{weights_command('realesrgan_x2plus')}`)"
            )
        from basicsr.archs.rrdbnet_arch import RRDBNet
        from realesrgan import RealESRGANer

        device = torch.device(device)
        if device.type == "cpu":
            log.warning("Real-ESRGAN on the CPU is slow; consider bg_upsampler=none")
        model = RRDBNet(num_in_ch=3, num_out_ch=3, num_feat=64, num_block=23, num_grow_ch=32, scale=2)
        self.upsampler = RealESRGANer(
            scale=2,
            model_path=path,
            model=model,
            tile=tile,
            tile_pad=10,
            pre_pad=0,
            half=device.type == "cuda",
            device=device,
        )

    def __call__(self, image: np.ndarray, upscale: float) -> np.ndarray:
        upsampled: np.ndarray = self.upsampler.enhance(image, outscale=upscale)[0]
        return upsampled


def make_background_upsampler(
    name: str | None, device: str | torch.device = "cpu", tile: int = 400
) -> RealESRGANBackground | None:
    """None for 'none', the Real-ESRGAN upsampler for 'realesrgan'."""
    if name in (None, "none", "None"):
        return None
    if name == "realesrgan":
        return RealESRGANBackground(device, tile)
    raise ValueError(f"unknown bg_upsampler {name!r}; choose 'none' or 'realesrgan'")
