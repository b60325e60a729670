"""Unconditional face dataset for StyleGAN2 prior training: GT faces only, a random horizontal flip, [-1, 1].

BasicSR's `FFHQDataset` (train_StyleGAN2_256_Cmul2_FFHQ.yml): read the face, flip it with probability 0.5,
normalise with mean = std = 0.5. Images come from any FaceRevive source (folder, list file, LMDB, zip) and
are checked like the GFPGAN training faces (`facerevive.data.image_io`): a bad file is skipped with one warning
naming it. The flip is drawn from one numpy Generator that `FaceDataModule` reseeds for every sample
(`facerevive.data.sampler`), so the data resume exactly and do not depend on the number of workers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from facerevive.data.image_io import to_chw_tensor
from facerevive.data.sources import ImageSource, first_good_face, open_source


class FaceImageDataset(Dataset):
    """Aligned faces as {'gt', 'gt_path'}; 'gt' is a (3, out_size, out_size) float tensor.

    Args:
        root: image source (folder; `*.lmdb`; `*.zip`; or a list file, see `list_file`).
        out_size: image size in pixels; other sizes are skipped (or resized when `resize_gt`).
        source: 'auto', 'folder', 'list', 'lmdb' or 'zip'.
        list_file: text file naming images (relative to `root`) when using a list.
        use_hflip: random horizontal flip with probability 0.5.
        mean, std: per-channel normalisation (0.5 -> [-1, 1]).
        resize_gt: resize square images of any size to out_size (INTER_AREA) instead of skipping them.
    """

    def __init__(
        self,
        root: str | Path,
        out_size: int = 512,
        source: str = "auto",
        list_file: str | Path | None = None,
        use_hflip: bool = True,
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
        resize_gt: bool = False,
    ) -> None:
        super().__init__()
        self.source: ImageSource = open_source(root, source, list_file)
        self.out_size = int(out_size)
        self.use_hflip = bool(use_hflip)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.resize_gt = bool(resize_gt)
        self.bad_files: dict[str, str] = {}
        self.rng: np.random.Generator | None = None
        self._rng_pid: int | None = None

    def __len__(self) -> int:
        return len(self.source)

    def reseed(self, seed: int | None) -> None:
        """Fix the flip stream (FaceDataModule does so for every sample with a seed of its position)."""
        self.rng = np.random.default_rng(seed)
        self._rng_pid = os.getpid()

    def _generator(self) -> np.random.Generator:
        # Used on its own (no reseed), each process (DataLoader worker) seeds once from torch's per-worker seed.
        if self.rng is None or self._rng_pid != os.getpid():
            self.reseed(torch.initial_seed() % 2**63)
        assert self.rng is not None
        return self.rng

    def _load(self, index: int) -> tuple[str, np.ndarray]:
        """The face at `index`, or at the next good index: bad files are counted and warned about once each."""
        position, face = first_good_face(self.source, index, self.bad_files, self.out_size, self.resize_gt)
        return self.source.keys[position], face

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self._generator()
        key, face = self._load(index)
        if self.use_hflip and rng.random() < 0.5:
            face = face[:, ::-1]
        return {"gt": to_chw_tensor(face, self.mean, self.std), "gt_path": self.source.path(key)}
