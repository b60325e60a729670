"""FFHQ-style training dataset: GT faces with low-quality inputs synthesised on the fly, plus component boxes.

Per sample, in the official GFPGAN order: read the GT, flip it (p 0.5) with its boxes, then run the degradation
pipeline it is given (configs/data/degradation/gfpgan_v1.yaml: blur, downscale, noise, JPEG, resize back, colour
shift, gray, colour jitter, 8-bit rounding) on a copy, and normalise both images to [-1, 1] (mean/std 0.5).

Randomness: one numpy Generator drives every draw (flip included). In training, `FaceDataModule` reseeds it for
every sample with a seed made from (seed, epoch, position) (`facerevive.data.sampler`), so samples do not depend
on workers and resume exactly. Used on its own, a process (or DataLoader worker) seeds it once from
`torch.initial_seed()` and the distributed rank; `reseed(seed)` fixes it explicitly.

Blur: by default the fast separable blur (`steps.blur.tolerance=1e-4`, within 1e-4 of the official dense filter). The
LQ distribution is the official one, but JPEG turns an input pixel that rounds to the other 8-bit level into a
different 8x8 block, so individual samples are not bit-identical (measured: about 5% of LQ values differ, by up
to 17 levels, on replayed draws). `tolerance=0` uses the dense filter and reproduces the official samples
(all but about 2 in a million LQ values identical; those differ by one level, from the hue conversion).

Boxes are cached once as read from the file and scaled into new lists per sample; the cache is never mutated
(the official dataset flips its cached entries in place, which corrupts them when workers persist).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from facerevive.data import component_boxes as cb
from facerevive.data.image_io import to_chw_tensor
from facerevive.data.pipeline import DegradationPipeline
from facerevive.data.sources import ImageSource, first_good_face, open_source, stem
from facerevive.data.worker_threads import limit_worker_threads


def _distributed_rank() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("RANK", 0))


class FFHQDegradationDataset(Dataset):
    """GT faces from a folder, list file, LMDB or zip; LQ made by a degradation pipeline.

    Args:
        root: image source (folder; `*.lmdb`; `*.zip`; or a list file, see `list_file`).
        degradation: the built pipeline (configs/data/degradation/, or `facerevive.data.load_degradation()` for
            the official one); its draws are reseeded here, and its `record` flag adds the drawn parameters.
        out_size: GT size in pixels; other sizes are skipped (or resized when `resize_gt`).
        source: 'auto', 'folder', 'list', 'lmdb' or 'zip'.
        list_file: text file naming images (relative to `root`) when using a list.
        use_hflip: random horizontal flip (p 0.5) of the GT and its boxes.
        mean, std: per-channel normalisation of both images (0.5 -> [-1, 1]).
        component_path: box file (GFPGAN format); None returns no boxes.
        eye_enlarge_ratio: factor on the eye half-lengths (official 1.4).
        component_size: image size the box file refers to; boxes are scaled by out_size / component_size.
        exact_box_flip: flip boxes as the exact mirror image instead of the official rule (1 px apart, see
            `component_locations`); the default reproduces the official boxes.
        resize_gt: resize square GT images of any size to out_size (INTER_AREA) instead of skipping them.
        check_images: decode every image once at start. Bad files are then found, warned about and counted
            before training, and DataLoader workers inherit the list; otherwise each worker process finds a bad
            file when it first draws it (one warning per file per worker process).
    """

    def __init__(
        self,
        root: str | Path,
        degradation: DegradationPipeline,
        out_size: int = 512,
        source: str = "auto",
        list_file: str | Path | None = None,
        use_hflip: bool = True,
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
        component_path: str | Path | None = None,
        eye_enlarge_ratio: float = 1.4,
        component_size: int = 512,
        exact_box_flip: bool = False,
        resize_gt: bool = False,
        check_images: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(degradation, DegradationPipeline):
            raise TypeError(
                f"degradation must be a DegradationPipeline (data.degradation), got {type(degradation).__name__}"
            )
        self.source: ImageSource = open_source(root, source, list_file)
        self.pipeline = degradation
        self.out_size = int(out_size)
        self.use_hflip = bool(use_hflip)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.resize_gt = bool(resize_gt)
        self.eye_enlarge_ratio = float(eye_enlarge_ratio)
        self.box_scale = self.out_size / float(component_size)
        self.exact_box_flip = bool(exact_box_flip)
        self.boxes: dict[str, cb.Boxes] | None = None
        self.box_keys: list[str] | None = None
        if component_path is not None:
            self.boxes = cb.load_boxes(component_path)
            self.box_keys = self._match_box_keys(component_path, self.boxes)
        self.bad_files: dict[str, str] = {}
        self._rng_owner: tuple[int, int] | None = None
        self._threads_limited_in: int | None = None
        if check_images:
            self._check_all()

    def _check_all(self) -> None:
        for index in range(len(self)):
            self._load(index)
        if len(self.bad_files) == len(self):
            raise RuntimeError(f"no usable image in {self.source.root}: every file was rejected")

    def _match_box_keys(self, component_path: str | Path, boxes: dict[str, cb.Boxes]) -> list[str]:
        """The box-file key of every image, failing at start on the first image the file does not cover."""
        keys = []
        for key in self.source.keys:
            candidates = cb.box_key_candidates(stem(key))
            found = next((c for c in candidates if c in boxes), None)
            if found is None:
                raise KeyError(
                    f"component box file {component_path} has no entry for image {self.source.path(key)} "
                    f"(looked for key {' or '.join(repr(c) for c in candidates)})"
                )
            keys.append(found)
        return keys

    def __len__(self) -> int:
        return len(self.source)

    def reseed(self, seed: int | None) -> None:
        """Fix the random stream of this process (the DataLoader seeding is then not applied here)."""
        self.pipeline.reseed(seed)
        self._rng_owner = self._process_token()

    @staticmethod
    def _process_token() -> tuple[int, int]:
        info = torch.utils.data.get_worker_info()
        return os.getpid(), -1 if info is None else info.id

    def _ensure_rng(self) -> None:
        token = self._process_token()
        if self._rng_owner != token:
            seed = np.random.SeedSequence([torch.initial_seed() % 2**63, _distributed_rank()])
            self.pipeline.reseed(int(seed.generate_state(1, np.uint64)[0]))
            self._rng_owner = token

    def _limit_threads_in_worker(self) -> None:
        """In a DataLoader worker, once per process: one thread for torch and BLAS/OpenMP (`limit_worker_threads`), also
        when the loader is not `FaceDataModule`'s (which sets it as its `worker_init_fn`)."""
        pid = os.getpid()
        if self._threads_limited_in != pid and torch.utils.data.get_worker_info() is not None:
            limit_worker_threads()
            self._threads_limited_in = pid

    def _load(self, index: int) -> tuple[int, np.ndarray]:
        """The GT at `index`, or at the next good index: bad files are counted and warned about once each."""
        return first_good_face(self.source, index, self.bad_files, self.out_size, self.resize_gt)

    def component_locations(self, index: int, flipped: bool) -> dict[str, torch.Tensor]:
        """loc_left_eye / loc_right_eye / loc_mouth as float32 (x1, y1, x2, y2) in out_size pixels.

        On a flip the eyes swap. Official rule: the centre x goes to out_size - x and the box is rebuilt as
        (c - h + 1, c + h), which lands 1 px right of the mirror image of the unflipped box. With
        `exact_box_flip` the flipped box is that mirror image, (out_size - x2, y1, out_size - x1, y2).
        """
        if self.boxes is None or self.box_keys is None:
            raise ValueError("this dataset has no component boxes (component_path is None)")
        entry = self.boxes[self.box_keys[index]]
        scaled = {name: [v * self.box_scale for v in entry[name]] for name in cb.COMPONENTS}
        if flipped:
            scaled = {"left_eye": scaled["right_eye"], "right_eye": scaled["left_eye"], "mouth": scaled["mouth"]}
            if not self.exact_box_flip:
                scaled = {name: [self.out_size - box[0], box[1], box[2]] for name, box in scaled.items()}
        out = {}
        for name in cb.COMPONENTS:
            enlarge = self.eye_enlarge_ratio if "eye" in name else 1.0
            xyxy = cb.box_to_xyxy(scaled[name], enlarge=enlarge)
            if flipped and self.exact_box_flip:
                xyxy = np.array([self.out_size - xyxy[2], xyxy[1], self.out_size - xyxy[0], xyxy[3]])
            out[f"loc_{name}"] = torch.from_numpy(xyxy).float()
        return out

    def generate(self, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """One sample and the parameters drawn for it ({'index', 'hflip', 'applied': [(step, params)]})."""
        self._limit_threads_in_worker()
        self._ensure_rng()
        index, gt = self._load(index)
        flipped = self.use_hflip and bool(self.pipeline.rng.random() < 0.5)
        if flipped:
            gt = cv2.flip(gt, 1)
        out = self.pipeline(gt.copy(), gt)
        sample: dict[str, Any] = {
            "lq": to_chw_tensor(out["image"], self.mean, self.std),
            "gt": to_chw_tensor(out["gt"], self.mean, self.std),
            "gt_path": self.source.path(self.source.keys[index]),
        }
        if self.boxes is not None:
            sample.update(self.component_locations(index, flipped))
        return sample, {"index": index, "hflip": flipped, "applied": out["applied"]}

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.generate(index)[0]
