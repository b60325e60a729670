"""Evaluation metrics of the GFPGAN-lineage protocol, batched, with parity to the reference scripts.

Every metric takes RGB, [0, 1], NCHW tensors and runs on whatever device they are on.
"""

from facerevive.metrics.assets import MissingWeightsError, find_weight
from facerevive.metrics.fid import FIDInception, FIDStats, frechet_distance
from facerevive.metrics.identity import build_arcface, cosine, degrees, mean_degrees
from facerevive.metrics.landmarks import LandmarkDetector, build_awing, heatmap_points, landmark_distance
from facerevive.metrics.lpips import LPIPS
from facerevive.metrics.niqe import niqe
from facerevive.metrics.psnr_ssim import correct_mean_var, psnr, psnr_ssim, ssim
from facerevive.metrics.scorers import (
    PSNRSSIM,
    Column,
    FIDScorer,
    IdentityScorer,
    LandmarkScorer,
    LPIPSScorer,
    NIQEScorer,
    Scorer,
    SetInfo,
)

__all__ = [
    "LPIPS",
    "PSNRSSIM",
    "Column",
    "FIDInception",
    "FIDScorer",
    "FIDStats",
    "IdentityScorer",
    "LPIPSScorer",
    "LandmarkDetector",
    "LandmarkScorer",
    "MissingWeightsError",
    "NIQEScorer",
    "Scorer",
    "SetInfo",
    "build_arcface",
    "build_awing",
    "correct_mean_var",
    "cosine",
    "degrees",
    "find_weight",
    "frechet_distance",
    "heatmap_points",
    "landmark_distance",
    "mean_degrees",
    "niqe",
    "psnr",
    "psnr_ssim",
    "ssim",
]
