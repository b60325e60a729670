"""The one adapter from BasicSR / GFPGAN option names to FaceRevive's degradation pipeline.

`degradation_from_options(opt)` reads the degradation keys of a `datasets.train` block of an official options
file (options/train_gfpgan_v1.yml) with the official dataset's rules: the blur, downsample, noise and JPEG keys
are required (noise_range and jpeg_range may be null: step off); the colour shift and the colour jitter run only
when their probability is set, gray only when gray_prob is non-zero; color_jitter_shift and the jitter ranges
default as in the official dataset. Other keys (paths, mean, use_hflip, ...) configure the dataset and are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from facerevive.data import transforms as T
from facerevive.data.degradations import BLUR_TOLERANCE
from facerevive.data.pipeline import DegradationPipeline

REQUIRED_OPTIONS = (
    "blur_kernel_size",
    "kernel_list",
    "kernel_prob",
    "blur_sigma",
    "downsample_range",
    "noise_range",
    "jpeg_range",
)
# What the official dataset uses when an options file leaves these keys out.
OFFICIAL_OPTION_DEFAULTS: dict[str, Any] = {
    "color_jitter_shift": 20,
    "gt_gray": False,
    "brightness": (0.5, 1.5),
    "contrast": (0.5, 1.5),
    "saturation": (0, 1.5),
    "hue": (-0.1, 0.1),
}


def degradation_from_options(
    opt: Mapping[str, Any], blur_tolerance: float = BLUR_TOLERANCE, record: bool = False
) -> DegradationPipeline:
    """The official degradations of `opt` as named steps (the names of configs/data/degradation/gfpgan_v1.yaml).

    `blur_tolerance` is FaceRevive's fast-blur bound (0: the official dense filter); `record` keeps the draws.
    """
    missing = [key for key in REQUIRED_OPTIONS if key not in opt]
    if missing:
        raise KeyError(f"official dataset options lack {missing} (keys of options/train_gfpgan_v1.yml datasets.train)")
    options: dict[str, Any] = {**OFFICIAL_OPTION_DEFAULTS, **opt}
    sigma = options["blur_sigma"]
    steps: dict[str, Any] = {
        "blur": T.RandomMixedGaussianBlur(
            options["blur_kernel_size"],
            options["kernel_list"],
            options["kernel_prob"],
            sigma,
            sigma,
            (-math.pi, math.pi),
            blur_tolerance,
        ),
        "downscale": T.RandomDownscale(options["downsample_range"]),
        "noise": None if options["noise_range"] is None else T.RandomGaussianNoise(options["noise_range"]),
        "jpeg": None if options["jpeg_range"] is None else T.RandomJPEG(options["jpeg_range"]),
        "resize_back": T.ResizeBack(),
        "color_shift": None,
        "gray": None,
        "color_jitter": None,
    }
    if options.get("color_jitter_prob") is not None:
        steps["color_shift"] = T.RandomColorShift(options["color_jitter_shift"], p=options["color_jitter_prob"])
    if options.get("gray_prob"):
        steps["gray"] = T.RandomGrayscale(apply_to_gt=bool(options["gt_gray"]), p=options["gray_prob"])
    if options.get("color_jitter_pt_prob") is not None:
        steps["color_jitter"] = T.RandomColorJitter(
            brightness=options["brightness"],
            contrast=options["contrast"],
            saturation=options["saturation"],
            hue=options["hue"],
            p=options["color_jitter_pt_prob"],
        )
    return DegradationPipeline(steps, quantize=True, record=record)
