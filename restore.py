"""Restore old photos: `python restore.py input=photo.jpg output=results/` (options in configs/restore/restore.yaml)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("PROJECT_ROOT", str(ROOT))

log = logging.getLogger("restore")


def build(cfg: DictConfig):
    """The restoration pipeline described by `cfg`."""
    from facerevive.restore import build_pipeline

    return build_pipeline(
        model=cfg.model,
        model_overrides=OmegaConf.to_container(cfg.model_overrides) if cfg.model_overrides else None,
        device=cfg.device,
        batch_size=cfg.batch_size,
        fidelity=cfg.fidelity,
        noise=cfg.noise,
        bf16=cfg.bf16,
        detector=cfg.detector,
        det_threshold=cfg.det_threshold,
        mask=cfg.mask,
        upscale=cfg.upscale,
        only_center_face=cfg.only_center_face,
        aligned=cfg.aligned,
        bg_upsampler=cfg.bg_upsampler,
        bg_tile=cfg.bg_tile,
        keep_gray=cfg.keep_gray,
    )


def restore(cfg: DictConfig):
    """Build the pipeline from `cfg`, restore every input and return the run summary."""
    from hydra.utils import to_absolute_path

    from facerevive.restore import RestoreRunner
    from facerevive.restore.build import is_random_model

    try:
        pipeline = build(cfg)
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        log.error("%s", exc)
        if "make weights" in str(exc):
            log.error("no weights here? model=random:gfpgan_v1.4 runs the whole pipeline with random weights")
        raise SystemExit(2) from exc
    random_model = is_random_model(cfg.model)
    if random_model:
        log.warning("model=%s is RANDOMLY INITIALISED: the outputs show the pipeline, not a restoration", cfg.model)
    runner = RestoreRunner(
        pipeline,
        output=to_absolute_path(cfg.output),
        ext=cfg.ext,
        seed=cfg.seed,
        save_faces=cfg.save_faces,
        save_comparison=cfg.save_comparison,
        note="RANDOM WEIGHTS" if random_model else None,
        min_side=cfg.min_side,
        max_side=cfg.max_side,
    )
    summary = runner.run(to_absolute_path(str(cfg.input)))
    print("\n".join(summary.lines()))
    print(f"outputs in {to_absolute_path(cfg.output)}")
    return summary


@hydra.main(version_base="1.3", config_path="configs/restore", config_name="restore.yaml")
def main(cfg: DictConfig) -> None:
    restore(cfg)


if __name__ == "__main__":
    sys.exit(main())
