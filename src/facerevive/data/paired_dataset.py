"""Test-set datasets: paired LQ/GT folders matched by file name (CelebA-Test style) and LQ-only sets.

Evaluation must not skip anything silently, so a bad file raises with its name and a pair without its partner
fails at construction, naming the first unmatched file. Images keep their size unless `size` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from facerevive.data.image_io import load_rgb, to_chw_tensor
from facerevive.data.sources import ImageSource, SourceError, open_source, stem

SIGNED = (0.5, 0.5, 0.5)  # mean and std that map [0, 1] to [-1, 1]


def _to_tensor(img: np.ndarray, signed: bool) -> torch.Tensor:
    return to_chw_tensor(img, SIGNED, SIGNED) if signed else to_chw_tensor(img)


def _read(source: ImageSource, key: str, size: int | None) -> np.ndarray:
    img = load_rgb(source.read(key), source.path(key))
    if size is not None and img.shape[:2] != (size, size):
        shrink = img.shape[0] > size
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return img


def _index_by_stem(source: ImageSource) -> dict[str, str]:
    index: dict[str, str] = {}
    for key in source.keys:
        name = stem(key)
        if name in index:
            raise SourceError(f"{source.root} holds two images named {name}: {index[name]} and {key}")
        index[name] = key
    return index


class PairedImageDataset(Dataset):
    """LQ and GT images matched by file stem; returns lq, gt, lq_path, gt_path.

    Args:
        lq_root, gt_root: folders (or list files, LMDBs, zips) of the same names; extensions may differ.
        signed: True gives RGB in [-1, 1] (the network convention), False gives [0, 1].
        size: resize both to size x size (INTER_AREA when shrinking, bilinear when enlarging); None keeps sizes.
    """

    def __init__(self, lq_root: str | Path, gt_root: str | Path, signed: bool = True, size: int | None = None) -> None:
        super().__init__()
        self.lq = open_source(lq_root)
        self.gt = open_source(gt_root)
        self.signed = signed
        self.size = size
        gt_by_stem = _index_by_stem(self.gt)
        lq_by_stem = _index_by_stem(self.lq)
        missing_gt = next((k for k in sorted(lq_by_stem) if k not in gt_by_stem), None)
        if missing_gt is not None:
            raise SourceError(
                f"LQ image {self.lq.path(lq_by_stem[missing_gt])} has no GT named {missing_gt}.* in {gt_root}"
            )
        missing_lq = next((k for k in sorted(gt_by_stem) if k not in lq_by_stem), None)
        if missing_lq is not None:
            raise SourceError(
                f"GT image {self.gt.path(gt_by_stem[missing_lq])} has no LQ named {missing_lq}.* in {lq_root}"
            )
        self.pairs = [(lq_by_stem[name], gt_by_stem[name]) for name in sorted(lq_by_stem)]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        lq_key, gt_key = self.pairs[index]
        return {
            "lq": _to_tensor(_read(self.lq, lq_key, self.size), self.signed),
            "gt": _to_tensor(_read(self.gt, gt_key, self.size), self.signed),
            "lq_path": self.lq.path(lq_key),
            "gt_path": self.gt.path(gt_key),
        }


class UnpairedImageDataset(Dataset):
    """LQ images only (LFW-Test, CelebChild-Test, WebPhoto-Test); returns lq, lq_path."""

    def __init__(self, root: str | Path, signed: bool = True, size: int | None = None) -> None:
        super().__init__()
        self.lq = open_source(root)
        self.signed = signed
        self.size = size

    def __len__(self) -> int:
        return len(self.lq)

    def __getitem__(self, index: int) -> dict[str, Any]:
        key = self.lq.keys[index]
        return {"lq": _to_tensor(_read(self.lq, key, self.size), self.signed), "lq_path": self.lq.path(key)}
