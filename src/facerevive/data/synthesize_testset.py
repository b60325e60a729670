"""Synthesise a CelebA-Test-style paired set (lq/ + hq/ folders) from GT faces with a fixed seed.

Each GT image is degraded by a training pipeline of configs/data/degradation/ (default gfpgan_v1; no flip),
with a random stream seeded from
(seed, the image's stem), so the same seed rebuilds the same set bit for bit, independent of which other images
are present or of their order. Writes `<out>/hq/<stem>.png` (the GT, resized to --size if needed),
`<out>/lq/<stem>.png`, and `<out>/params.jsonl` with the drawn parameters per image. Existing outputs are
never overwritten; every file is written atomically.

    python -m facerevive.data.synthesize_testset --gt datasets/celeba_hq_test --out datasets/celeba_test --seed 0
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facerevive.data.image_io import load_face, to_uint8
from facerevive.data.pipeline import DegradationPipeline, load_degradation
from facerevive.data.sources import open_source, stem
from facerevive.utils.files import atomic_write, atomic_write_text

# Command-line range flags -> the steps of configs/data/degradation/gfpgan_v1.yaml they set.
RANGE_FLAGS = {
    "blur_sigma": ("blur.sigma_x_range", "blur.sigma_y_range"),
    "downsample_range": ("downscale.scale_range",),
    "noise_range": ("noise.sigma_range",),
    "jpeg_range": ("jpeg.quality_range",),
}


def _stem_seed(seed: int, name: str) -> int:
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int(np.random.SeedSequence([seed, int.from_bytes(digest[:8], "little")]).generate_state(1, np.uint64)[0])


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    """The scalar draws of a step (small arrays such as colour offsets as lists; noise fields left out)."""
    out = {}
    for key, value in params.items():
        if isinstance(value, np.ndarray) and value.size <= 16:
            out[key] = value.tolist()
        elif isinstance(value, (int, float, str, bool, list, dict)) and key != "shape":
            out[key] = value
    return out


def _to_png(img: np.ndarray) -> bytes:
    bgr = cv2.cvtColor(to_uint8(img), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", bgr)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return encoded.tobytes()


def _write_png(path: Path, img: np.ndarray) -> None:
    png = _to_png(img)
    atomic_write(path, lambda tmp: tmp.write_bytes(png))


def synthesize(
    gt_root: str | Path,
    out_dir: str | Path,
    seed: int = 0,
    size: int = 512,
    degradation: str | DegradationPipeline = "gfpgan_v1",
    overrides: Sequence[str] = (),
) -> int:
    """Write the paired set and return the number of pairs.

    `degradation` is a config name of configs/data/degradation/ (built with the Hydra `overrides`, e.g.
    `data.degradation.steps.jpeg=null`) or a built pipeline.
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; refusing to overwrite it")
    source = open_source(gt_root)
    if isinstance(degradation, str):
        degradation = load_degradation(degradation, [*overrides, "data.degradation.record=true"])
    elif overrides:
        raise ValueError("overrides apply to a degradation config name, not to a built pipeline")
    pipeline = degradation
    if not pipeline.record:
        raise ValueError("synthesize logs every draw: give a pipeline built with record=True")
    log = []
    for key in source.keys:
        name = stem(key)
        gt = load_face(source.read(key), size, resize=True)
        pipeline.reseed(_stem_seed(seed, name))
        result = pipeline(gt.copy(), gt)
        for folder, image in (("hq", result["gt"]), ("lq", result["image"])):
            _write_png(out / folder / f"{name}.png", image)

        steps = [[step, _jsonable(params)] for step, params in result["applied"]]
        log.append(json.dumps({"name": name, "steps": steps}) + "\n")
    atomic_write_text(out / "params.jsonl", "".join(log))
    return len(source)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m facerevive.data.synthesize_testset", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--gt", required=True, help="folder, list file, LMDB or zip of GT faces (square)")
    parser.add_argument("--out", required=True, help="output folder (must be new or empty)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument(
        "--degradation", default="gfpgan_v1", help="config of configs/data/degradation/ (gfpgan_v1, no_color, none)"
    )
    parser.add_argument("--no-color", action="store_true", help="the no_color config (no colour steps, gray GT)")
    for flag, steps in RANGE_FLAGS.items():
        parser.add_argument(
            f"--{flag.replace('_', '-')}", type=float, nargs=2, metavar=("MIN", "MAX"), help=f"sets {', '.join(steps)}"
        )
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides of the degradation config, e.g. data.degradation.steps.jpeg=null"
    )
    args = parser.parse_args(argv)
    overrides = list(args.overrides)
    for flag, steps in RANGE_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            overrides += [f"data.degradation.steps.{step}=[{value[0]},{value[1]}]" for step in steps]
    name = "no_color" if args.no_color else args.degradation
    count = synthesize(args.gt, args.out, args.seed, args.size, name, overrides)
    print(f"wrote {count} pairs to {args.out}")


if __name__ == "__main__":
    main()
