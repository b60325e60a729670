"""Where metric weight files are looked up, and the one message a metric gives when one is missing.

The restoration weights come from `facerevive.weights.registry`; the metric-only backbones (torchvision's
ImageNet VGG16/AlexNet for LPIPS, the FFHQ FID statistics) are listed here. A file is searched in the
FaceRevive weights folder (`make weights`), then in torch's hub cache, where torchvision, lpips and
pytorch-fid put their downloads, so a machine that already ran those packages needs nothing new.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from facerevive.weights.registry import WEIGHT_FILES, pretrained_dir


class MissingWeightsError(FileNotFoundError):
    """A metric cannot run because a weight file is absent; `str()` is the line the report prints."""

    def __init__(self, filename: str) -> None:
        super().__init__(filename)
        self.filename = filename

    def __str__(self) -> str:
        return f"not computed: {self.filename} missing (make weights)"


@dataclass(frozen=True)
class MetricFile:
    """A metric weight file that is not in the restoration registry."""

    filename: str
    url: str
    purpose: str


METRIC_FILES: dict[str, MetricFile] = {
    "vgg16": MetricFile(
        "vgg16-397923af.pth",
        "https://download.pytorch.org/models/vgg16-397923af.pth",
        "ImageNet VGG16 backbone of LPIPS-VGG (torchvision IMAGENET1K_V1)",
    ),
    "alexnet": MetricFile(
        "alexnet-owt-7be5be79.pth",
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        "ImageNet AlexNet backbone of LPIPS-Alex (torchvision IMAGENET1K_V1)",
    ),
    "ffhq_fid_stats": MetricFile(
        "inception_FFHQ_512-f7b384ab.pth",
        # Published only as a Google Drive folder (BasicSR docs/Metrics.md): no direct URL to fetch.
        "https://drive.google.com/drive/folders/1k3RCSliF6PsujCMIdCD1hNM63EozlDIZ",
        "FFHQ 512 Inception statistics (50,000 images) used by the GFPGAN-lineage FID; place it by hand",
    ),
}


def weight_filename(name: str) -> str:
    """File name of a weight known to the restoration registry or to METRIC_FILES."""
    if name in WEIGHT_FILES:
        return WEIGHT_FILES[name].filename
    if name in METRIC_FILES:
        return METRIC_FILES[name].filename
    raise KeyError(f"unknown weight {name!r}; known: {sorted({*WEIGHT_FILES, *METRIC_FILES})}")


def _hub_checkpoints() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(torch_home) / "hub" / "checkpoints"


def find_weight(name_or_path: str | Path) -> Path:
    """Path of a metric weight (a registered name or an explicit path); MissingWeightsError when absent."""
    text = str(name_or_path)
    if text in WEIGHT_FILES or text in METRIC_FILES:
        filename = weight_filename(text)
        for folder in (pretrained_dir(), _hub_checkpoints(), _hub_checkpoints().parent / "facexlib"):
            if (folder / filename).is_file():
                return folder / filename
        raise MissingWeightsError(filename)
    path = Path(text)
    if not path.is_file():
        raise MissingWeightsError(str(path))
    return path
