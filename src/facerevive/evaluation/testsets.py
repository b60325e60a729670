"""Build the test set of an evaluation config, synthesising the paired sample set on first use.

A dataset config (configs/dataset/*.yaml) has `name`, `paired` and `images` (a `_target_` dataset returning
RGB [0, 1] images). The sample set used by `make evaluate` also has `synthesize`: its LQ images are made once
from the GT faces with the GFPGAN degradations and a fixed seed (facerevive.data.synthesize_testset), into a
temporary folder renamed into place when complete, so an interrupted run never leaves a half-made set.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import Dataset

log = logging.getLogger(__name__)


class DatasetError(ValueError):
    """A test set that cannot be read; the message names the folder and what to do."""


def synthesize_once(gt: str | Path, out: str | Path, seed: int, size: int, options: dict | None = None) -> Path:
    """The paired set at `out` (lq/, hq/), created from the GT folder `gt` if it is not there yet."""
    from facerevive.data.synthesize_testset import synthesize

    out = Path(out)
    if (out / "lq").is_dir() and (out / "hq").is_dir():
        return out
    gt = Path(gt)
    if not gt.exists():
        raise DatasetError(f"GT faces for the sample test set not found: {gt}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        count = synthesize(gt, tmp / "set", seed=seed, size=size, **(options or {}))
        os.replace(tmp / "set", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("synthesised %d LQ/GT pairs from %s into %s (seed %d)", count, gt, out, seed)
    return out


def prepare_dataset(cfg: DictConfig) -> Dataset:
    """Instantiate `cfg.images`, after synthesising the set when `cfg.synthesize` is given."""
    if cfg.get("synthesize"):
        syn = cfg.synthesize
        options = OmegaConf.to_container(syn.options, resolve=True) if syn.get("options") else {}
        synthesize_once(syn.gt, syn.out, int(syn.seed), int(syn.size), options)
    try:
        dataset = instantiate(cfg.images)
    except Exception as exc:  # Hydra wraps the dataset's own error; keep its message in front
        cause = exc.__cause__ or exc
        raise DatasetError(f"test set {cfg.name}: {cause}") from exc
    if len(dataset) == 0:
        raise DatasetError(f"test set {cfg.name} has no images ({OmegaConf.to_container(cfg.images, resolve=True)})")
    return dataset
