"""The metrics as report columns: each scorer loads what it needs, then scores one method's images set by set.

Every scorer takes RGB, [0, 1], NCHW batches on one device: `restored` (the method's output) and `gt` (None on
real-world sets without ground truth). The runner calls, for every scorer alike:
- `setup(device, test_set)` once: load networks and weights, read what the set says (FID-GT keys its cache
  on the GT files); a missing weight file raises `MissingWeightsError` and the report prints
  "not computed: <file> missing (make weights)" in its columns;
- `begin()` before each method's images;
- `update(restored, gt)` per batch: per-image values by column (empty for a set-level metric such as FID);
- `result()` after the method's last batch: the reported number and a note per column.
Scorers are built from configs (`configs/evaluate.yaml`, `_target_`), so a protocol is data.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from facerevive.metrics import fid as fid_lib
from facerevive.metrics.cpu_scoring import image_by_image
from facerevive.metrics.gt_cache import GTOutputs
from facerevive.metrics.identity import IdentityEmbedder, build_arcface, cosine, degrees, mean_degrees
from facerevive.metrics.landmarks import LandmarkDetector, build_awing, landmark_distance
from facerevive.metrics.lpips import LPIPS
from facerevive.metrics.niqe import niqe
from facerevive.metrics.psnr_ssim import psnr_ssim

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Column:
    """One number of the report: its key, its table header, and which direction is better."""

    key: str
    label: str
    higher_is_better: bool


@dataclass(frozen=True)
class SetInfo:
    """What a scorer may need to know about the test set before scoring: its GT files (paired sets)."""

    name: str
    paired: bool
    gt_files: Sequence[Path] = field(default_factory=tuple)


def _needs(gt: torch.Tensor | None) -> torch.Tensor:
    """The GT batch of a full-reference scorer (the runner leaves such scorers out on sets without GT)."""
    if gt is None:
        raise ValueError("a full-reference metric was given no GT batch")
    return gt


class Scorer:
    """Base class: per-image metrics implement `score` and get the mean of their values per column;
    subclasses set `columns` and `needs_gt`."""

    columns: tuple[Column, ...] = ()
    needs_gt: bool = True

    def __init__(self) -> None:
        self._values: dict[str, list[float]] = defaultdict(list)

    def setup(self, device: torch.device, test_set: SetInfo) -> None:
        """Load networks and weights onto `device` (may raise MissingWeightsError)."""

    def begin(self) -> None:
        """Start a method: forget the previous method's values."""
        self._values = defaultdict(list)

    def score(self, restored: torch.Tensor, gt: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Per-image values of one batch, by column key."""
        raise NotImplementedError

    def update(self, restored: torch.Tensor, gt: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Score one batch, keep its values for `result`, and return them (the report's per-image values)."""
        values = self.score(restored, gt)
        for key, tensor in values.items():
            self._values[key].extend(tensor.double().cpu().tolist())
        return values

    def summary(self, key: str, values: list[float]) -> tuple[float, str]:
        """The reported number for a column and a note (empty when there is nothing to say)."""
        finite = [v for v in values if not math.isnan(v)]
        return (float(np.mean(finite)) if finite else math.nan), ""

    def result(self) -> dict[str, tuple[float, str]]:
        """The method's number and note per column, from everything `update` saw since `begin`."""
        return {column.key: self.summary(column.key, self._values.get(column.key, [])) for column in self.columns}


class PSNRSSIM(Scorer):
    """PSNR and SSIM (BasicSR definitions); `correct_mean_var` is VQFR's metric_paper default. On the CPU one
    image at a time with one thread (facerevive.metrics.cpu_scoring)."""

    def __init__(self, y_channel: bool = False, correct_mean_var: bool = True, crop_border: int = 0) -> None:
        super().__init__()
        self.y_channel, self.correct, self.crop_border = y_channel, correct_mean_var, crop_border
        suffix = ("_y" if y_channel else "") + ("" if correct_mean_var else "_raw")
        tag = ("-Y" if y_channel else "") + ("" if correct_mean_var else " (raw)")
        self.columns = (Column(f"psnr{suffix}", f"PSNR{tag}↑", True), Column(f"ssim{suffix}", f"SSIM{tag}↑", True))

    def score(self, restored: torch.Tensor, gt: torch.Tensor | None) -> dict[str, torch.Tensor]:
        def both(r: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return psnr_ssim(r, g, self.y_channel, self.correct, self.crop_border)

        values = image_by_image(both, restored, _needs(gt))
        return {column.key: value for column, value in zip(self.columns, values)}


class LPIPSScorer(Scorer):
    """LPIPS v0.1 with the VGG (the protocol's column) or AlexNet backbone; `channels_last` runs the backbone
    on NHWC activations (faster on CPU, equal to round-off); `bf16` (opt-in) runs it under bfloat16 autocast,
    faster but not the exact value (configs/evaluate.yaml says by how much)."""

    def __init__(
        self, net: str = "vgg", backbone: str | None = None, channels_last: bool = True, bf16: bool = False
    ) -> None:
        super().__init__()
        self.net_name, self.backbone, self.channels_last, self.bf16 = net, backbone, channels_last, bf16
        key = "lpips" if net == "vgg" else f"lpips_{net}"
        label = "LPIPS↓" if net == "vgg" else f"LPIPS-{net.capitalize()}↓"
        self.columns = (Column(key, label, False),)
        self.model: LPIPS  # set by setup

    def setup(self, device: torch.device, test_set: SetInfo) -> None:
        self.model = LPIPS.from_files(self.net_name, self.backbone, self.channels_last, self.bf16).to(device)

    def score(self, restored: torch.Tensor, gt: torch.Tensor | None) -> dict[str, torch.Tensor]:
        return {self.columns[0].key: self.model(restored, _needs(gt)).double()}


class NIQEScorer(Scorer):
    """No-reference NIQE (BasicSR's MATLAB port); image by image on the CPU (metrics.cpu_scoring)."""

    columns = (Column("niqe", "NIQE↓", False),)
    needs_gt = False

    def __init__(self, crop_border: int = 0) -> None:
        super().__init__()
        self.crop_border = crop_border

    def score(self, restored: torch.Tensor, gt: torch.Tensor | None) -> dict[str, torch.Tensor]:
        (values,) = image_by_image(lambda r: (niqe(r, self.crop_border),), restored)
        return {"niqe": values}


class IdentityScorer(Scorer):
    """Deg. (degrees, VQFR's < 1 degree exclusion), IDD (radians) and IDS (cosine) from one embedding pass;
    the GT embeddings are computed once per test set (metrics.gt_cache)."""

    columns = (Column("deg", "Deg.↓", False), Column("idd", "IDD↓", False), Column("ids", "IDS↑", True))

    def __init__(self, weights: str | None = "arcface") -> None:
        super().__init__()
        self.weights = weights
        self.embedder: IdentityEmbedder  # set by setup
        self.gt_outputs = GTOutputs()

    def setup(self, device: torch.device, test_set: SetInfo) -> None:
        self.embedder = IdentityEmbedder(build_arcface(self.weights)).to(device)
        self.gt_outputs.clear()

    def score(self, restored: torch.Tensor, gt: torch.Tensor | None) -> dict[str, torch.Tensor]:
        cos = cosine(self.embedder(restored), self.gt_outputs.get(_needs(gt), self.embedder))
        deg = degrees(cos)
        return {"deg": deg, "idd": deg / 180.0 * math.pi, "ids": cos}

    def summary(self, key: str, values: list[float]) -> tuple[float, str]:
        if key != "deg":
            return super().summary(key, values)
        mean, left_out = mean_degrees(values)
        return mean, (f"{left_out} pair(s) under 1 degree left out" if left_out else "")


class LandmarkScorer(Scorer):
    """LMD: mean distance of the 98 AWing landmarks of restored and GT faces; the GT landmarks are computed once
    per test set (metrics.gt_cache)."""

    columns = (Column("lmd", "LMD↓", False),)

    def __init__(self, weights: str | None = "awing") -> None:
        super().__init__()
        self.weights = weights
        self.detector: LandmarkDetector  # set by setup
        self.gt_outputs = GTOutputs()

    def setup(self, device: torch.device, test_set: SetInfo) -> None:
        self.detector = LandmarkDetector(build_awing(self.weights)).to(device)
        self.gt_outputs.clear()

    def score(self, restored: torch.Tensor, gt: torch.Tensor | None) -> dict[str, torch.Tensor]:
        return {"lmd": landmark_distance(self.detector(restored), self.gt_outputs.get(_needs(gt), self.detector))}


class FIDScorer(Scorer):
    """FID of each method's outputs against reference statistics: a set-level metric (no per-image values).

    reference: 'ffhq' (the GFPGAN-lineage protocol: BasicSR's FFHQ 512 statistics file) or 'gt' (statistics of
    the test set's GT images, cached in `cache_dir` under a content hash; no cache when `cache_dir` is None).
    Real-world sets have no GT: the 'gt' reference needs a paired set. `channels_last`: see FIDInception.
    """

    def __init__(
        self,
        reference: str = "ffhq",
        stats_file: str = "ffhq_fid_stats",
        inception: str = "fid_inception",
        cache_dir: str | None = None,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        self.channels_last = channels_last
        if reference not in ("ffhq", "gt"):
            raise ValueError(f"FID reference must be 'ffhq' or 'gt', got {reference!r}")
        self.reference, self.stats_file, self.inception = reference, stats_file, inception
        self.needs_gt = reference == "gt"
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.columns = (
            Column("fid" if reference == "ffhq" else "fid_gt", "FID↓" if reference == "ffhq" else "FID-GT↓", False),
        )
        self.model: fid_lib.FIDInception  # set by setup
        self.ref_stats: fid_lib.FIDStats | None = None
        self._cache_path: Path | None = None
        self._features: list[np.ndarray] = []
        self._gt_features: list[np.ndarray] = []

    def setup(self, device: torch.device, test_set: SetInfo) -> None:
        if self.reference == "ffhq":
            self.ref_stats = fid_lib.FIDStats.load(self.stats_file)
        self.model = fid_lib.FIDInception.from_file(self.inception, self.channels_last)
        self.model.to(device)
        if self.reference == "gt" and self.cache_dir is not None:
            key = fid_lib.folder_fingerprint(test_set.gt_files, network=str(self.inception))
            self._cache_path = self.cache_dir / f"gt_{key}.npz"
            if self._cache_path.is_file():
                self.ref_stats = fid_lib.FIDStats.load(self._cache_path)
                log.info("FID: GT statistics from cache %s", self._cache_path)

    def begin(self) -> None:
        self._features = []

    def update(self, restored: torch.Tensor, gt: torch.Tensor | None) -> dict[str, torch.Tensor]:
        self._features.append(self.model(restored).double().cpu().numpy())
        if self.ref_stats is None:
            self._gt_features.append(self.model(_needs(gt)).double().cpu().numpy())
        return {}

    def result(self) -> dict[str, tuple[float, str]]:
        key = self.columns[0].key
        count = sum(len(f) for f in self._features)
        if count < 2:
            return {key: (math.nan, f"FID needs at least 2 images, got {count}")}
        if self.ref_stats is None:
            self.ref_stats = fid_lib.FIDStats.from_features(np.concatenate(self._gt_features))
            self._gt_features = []
            if self._cache_path is not None:
                self.ref_stats.save(self._cache_path)
                log.info("FID: GT statistics cached in %s", self._cache_path)
        stats = fid_lib.FIDStats.from_features(np.concatenate(self._features))
        return {key: (fid_lib.frechet_distance(stats, self.ref_stats), "")}
