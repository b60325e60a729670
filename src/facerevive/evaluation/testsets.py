"""Build the test set of an evaluation config, synthesising the paired sample set on first use.

A dataset config (configs/dataset/*.yaml) has `name`, `paired`, `root` and `images` (a `_target_` dataset
returning RGB [0, 1] images, reading under `root`). The sample set used by `make evaluate` also has
`synthesize`: its LQ images are made once from the GT faces with a degradation config of
configs/data/degradation/ and a fixed seed (facerevive.data.synthesize_testset), into a temporary folder
renamed into place when complete, so an interrupted run never leaves a half-made set.

A test image that cannot be read (corrupt, truncated, not 8-bit colour, vanished) does not stop the loader:
its batch carries it under `failed` (set index -> reason naming the file) and the others are scored.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset, default_collate

from facerevive.data import PairedImageDataset, UnpairedImageDataset
from facerevive.data.image_io import BadImageError
from facerevive.data.sources import SourceError, stem
from facerevive.metrics.scorers import SetInfo

log = logging.getLogger(__name__)

TestImages: TypeAlias = PairedImageDataset | UnpairedImageDataset
# What reading one test image may raise for a bad file (the messages name it); anything else is a bug.
READ_ERRORS = (BadImageError, OSError, KeyError)


class DatasetError(ValueError):
    """A test set that cannot be read; the message names the folder and what to do."""


@dataclass(frozen=True)
class TestSet:
    """A test set ready to score: its images, their names (file stems, in order) and, when paired, GT files."""

    __test__ = False  # not a pytest test class

    name: str
    paired: bool
    images: TestImages
    names: list[str]
    gt_files: list[Path]

    @property
    def info(self) -> SetInfo:
        """What scorers see of the set in `setup`."""
        return SetInfo(self.name, self.paired, tuple(self.gt_files))

    def loader(self, batch_size: int, num_workers: int) -> DataLoader[dict[str, Any]]:
        """The images in order, in batches: `index` (set indices of the images read), the dataset's keys,
        and `failed` (set index -> reason) for those that could not be read."""
        return DataLoader(
            CheckedImages(self.images),
            batch_size=batch_size,
            num_workers=num_workers,
            shuffle=False,
            collate_fn=collate_checked,
        )


class CheckedImages(Dataset):
    """The test images with their set index; an unreadable one becomes {"index", "error"} instead of raising."""

    def __init__(self, images: TestImages) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        try:
            return {"index": index, **self.images[index]}
        except READ_ERRORS as exc:
            return {"index": index, "error": str(exc).strip("'\"")}


def collate_checked(items: list[dict[str, Any]]) -> dict[str, Any]:
    """default_collate of the images read; the others under `failed` (set index -> reason)."""
    good = [item for item in items if "error" not in item]
    batch: dict[str, Any] = default_collate(good) if good else {}
    batch["failed"] = {item["index"]: item["error"] for item in items if "error" in item}
    return batch


def set_name(cfg: DictConfig) -> str:
    """The test set's name in the report: `name`, or when it is null the name of its `root` folder (a user's
    own set, configs/dataset/paired.yaml)."""
    name = cfg.get("name")
    if name:
        return str(name)
    root = Path(str(cfg.get("root") or "")).resolve()
    return root.name or "test set"


def synthesize_once(gt: str | Path, out: str | Path, seed: int, size: int, degradation: DictConfig) -> Path:
    """The paired set at `out` (lq/, hq/), created from the GT folder `gt` with the `degradation` pipeline
    config (`_target_`) if it is not there yet."""
    from facerevive.data.synthesize_testset import synthesize

    out = Path(out)
    if (out / "lq").is_dir() and (out / "hq").is_dir():
        return out
    gt = Path(gt)
    if not gt.exists():
        raise DatasetError(f"GT faces for the sample test set not found: {gt}")
    out.parent.mkdir(parents=True, exist_ok=True)
    # A folder, not a file: facerevive.utils.files covers files, so the set is built beside `out` and renamed.
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        count = synthesize(gt, tmp / "set", seed=seed, size=size, degradation=instantiate(degradation))
        os.replace(tmp / "set", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("synthesised %d LQ/GT pairs from %s into %s (seed %d)", count, gt, out, seed)
    return out


def prepare_dataset(cfg: DictConfig) -> TestImages:
    """Instantiate `cfg.images`, after synthesising the set when `cfg.synthesize` is given."""
    if cfg.get("synthesize"):
        syn = cfg.synthesize
        synthesize_once(syn.gt, syn.out, int(syn.seed), int(syn.size), syn.degradation)
    try:
        dataset: object = instantiate(cfg.images)
    except InstantiationException as exc:  # Hydra wraps the dataset's own error: keep a data error's message
        if not isinstance(exc.__cause__, SourceError | OSError):
            raise
        raise DatasetError(f"test set {set_name(cfg)}: {exc.__cause__}") from exc
    expected = PairedImageDataset if cfg.paired else UnpairedImageDataset
    if not isinstance(dataset, expected):
        raise DatasetError(
            f"test set {set_name(cfg)}: images._target_ must build a {expected.__name__} (paired: {cfg.paired}), "
            f"got {type(dataset).__name__}"
        )
    if len(dataset) == 0:
        raise DatasetError(
            f"test set {set_name(cfg)} has no images ({OmegaConf.to_container(cfg.images, resolve=True)})"
        )
    return dataset


def load_test_set(cfg: DictConfig) -> TestSet:
    """The TestSet of a dataset config (configs/dataset/*.yaml)."""
    images = prepare_dataset(cfg)
    if isinstance(images, PairedImageDataset):
        names = [stem(lq_key) for lq_key, _ in images.pairs]
        gt_files = [Path(images.gt.path(gt_key)) for _, gt_key in images.pairs]
    else:
        names, gt_files = [stem(key) for key in images.lq.keys], []
    return TestSet(set_name(cfg), isinstance(images, PairedImageDataset), images, names, gt_files)
