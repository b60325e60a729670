"""Synthesise a CelebA-Test-style paired set (lq/ + hq/ folders) from GT faces with a fixed seed.

Each GT image is degraded by the GFPGAN training pipeline (no flip) with a random stream seeded from
(seed, the image's stem), so the same seed rebuilds the same set bit for bit, independent of which other images
are present or of their order. Writes `<out>/hq/<stem>.png` (the GT, resized to --size if needed),
`<out>/lq/<stem>.png`, and `<out>/params.jsonl` with the drawn parameters per image. Existing outputs are
never overwritten.

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

from facerevive.data.image_io import load_face
from facerevive.data.pipeline import DegradationPipeline, gfpgan_degradations
from facerevive.data.sources import open_source, stem


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
    bgr = cv2.cvtColor(np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", bgr)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return encoded.tobytes()


def synthesize(gt_root: str | Path, out_dir: str | Path, seed: int = 0, size: int = 512, **options: Any) -> int:
    """Write the paired set; `options` are `gfpgan_degradations` arguments. Returns the number of pairs."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; refusing to overwrite it")
    source = open_source(gt_root)
    pipeline = DegradationPipeline(gfpgan_degradations(out_size=size, **options), record=True)
    (out / "lq").mkdir(parents=True, exist_ok=True)
    (out / "hq").mkdir(parents=True, exist_ok=True)
    with open(out / "params.jsonl", "w") as log:
        for key in source.keys:
            name = stem(key)
            gt = load_face(source.read(key), size, resize=True)
            pipeline.reseed(_stem_seed(seed, name))
            result = pipeline(gt.copy(), gt)
            (out / "hq" / f"{name}.png").write_bytes(_to_png(result["gt"]))
            (out / "lq" / f"{name}.png").write_bytes(_to_png(result["image"]))
            steps = [[step, _jsonable(params)] for step, params in result["applied"]]
            log.write(json.dumps({"name": name, "steps": steps}) + "\n")
    return len(source)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m facerevive.data.synthesize_testset", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--gt", required=True, help="folder, list file, LMDB or zip of GT faces (square)")
    parser.add_argument("--out", required=True, help="output folder (must be new or empty)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--blur-sigma", type=float, nargs=2, default=(0.1, 10.0))
    parser.add_argument("--downsample-range", type=float, nargs=2, default=(0.8, 8.0))
    parser.add_argument("--noise-range", type=float, nargs=2, default=(0.0, 20.0))
    parser.add_argument("--jpeg-range", type=float, nargs=2, default=(60.0, 100.0))
    parser.add_argument("--no-color", action="store_true", help="no colour shift or jitter (gray p 0.01 with GT)")
    args = parser.parse_args(argv)
    options: dict[str, Any] = {
        "blur_sigma": args.blur_sigma,
        "downsample_range": args.downsample_range,
        "noise_range": args.noise_range,
        "jpeg_range": args.jpeg_range,
    }
    if args.no_color:
        options.update(color_jitter_prob=None, color_jitter_pt_prob=None, gt_gray=True)
    count = synthesize(args.gt, args.out, args.seed, args.size, **options)
    print(f"wrote {count} pairs to {args.out}")


if __name__ == "__main__":
    main()
