"""Build the restoration pipeline from plain settings (the Hydra config of restore.py)."""

from __future__ import annotations

import logging

import torch

from facerevive.restore.background import make_background_upsampler
from facerevive.restore.detection import make_detector
from facerevive.restore.network import FaceRestorer
from facerevive.restore.pasteback import FaceParser
from facerevive.restore.pipeline import RestorePipeline
from facerevive.weights import build_generator
from facerevive.weights.build import RANDOM_PREFIX
from facerevive.weights.registry import weight_path

log = logging.getLogger(__name__)


def resolve_device(device: str | None) -> torch.device:
    """'auto' (or None) picks CUDA when available; an unavailable CUDA request is an error, not a fallback."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda was requested but no CUDA device is available (use device=cpu)")
    return device


def default_batch_size(device: torch.device) -> int:
    """Faces per forward: 1 on the CPU (the grouped modulated convs run slower batched there), 8 on a GPU."""
    return 8 if device.type == "cuda" else 1


def is_random_model(model: str) -> bool:
    return str(model).startswith(RANDOM_PREFIX)


def build_network(model: str, device: torch.device, overrides: dict | None = None, init_seed: int = 0):
    """The generator for `model` (official name, checkpoint path or 'random:<name>'); random init is seeded."""
    if is_random_model(model):
        state = torch.random.get_rng_state()
        torch.manual_seed(init_seed)
        try:
            net = build_generator(model, device="cpu", overrides=overrides or None)
        finally:
            torch.random.set_rng_state(state)
        return net.to(device)
    return build_generator(model, device=device, overrides=overrides or None)


def build_pipeline(
    model: str = "gfpgan_v1.4",
    model_overrides: dict | None = None,
    device: str | None = "auto",
    batch_size: int | None = None,
    fidelity: float = 1.0,
    noise: str = "random",
    bf16: bool = False,
    detector: str = "auto",
    det_threshold: float | None = None,
    mask: str = "auto",
    upscale: float = 2,
    only_center_face: bool = False,
    aligned: bool = False,
    bg_upsampler: str = "none",
    bg_tile: int = 400,
    keep_gray: bool = True,
) -> RestorePipeline:
    """A RestorePipeline; `mask` is 'auto' (parsing when facexlib's ParseNet weights are on disk), 'parse'
    or 'square'."""
    torch_device = resolve_device(device)
    net = build_network(model, torch_device, model_overrides)
    restorer = FaceRestorer(
        net,
        torch_device,
        batch_size=batch_size or default_batch_size(torch_device),
        fidelity=fidelity,
        noise=noise,
        bf16=bf16,
    )
    if mask not in ("auto", "parse", "square"):
        raise ValueError(f"mask must be auto, parse or square, got {mask!r}")
    use_parse = mask == "parse" or (mask == "auto" and weight_path("parsenet").is_file())
    if mask == "auto" and not use_parse:
        log.info("face-parsing weights not found (%s): pasting with the square soft mask", weight_path("parsenet"))
    return RestorePipeline(
        restorer,
        detector=None if aligned else make_detector(detector, torch_device, det_threshold),
        upscale=upscale,
        parser=FaceParser(torch_device) if use_parse and not aligned else None,
        bg_upsampler=make_background_upsampler(bg_upsampler, torch_device, bg_tile),
        only_center_face=only_center_face,
        aligned=aligned,
        keep_gray=keep_gray,
    )
