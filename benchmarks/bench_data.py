"""Training-data throughput, FaceRevive vs GFPGAN's FFHQDegradationDataset, on the same images at 512.

    python benchmarks/bench_data.py [--images 16] [--samples 60] [--rounds 5]

Writes synthetic 512x512 PNG faces into a temporary folder, builds both datasets with the official
train_gfpgan_v1.yml settings (with component boxes), and times `dataset[i]` in one process limited to one
thread the way FaceRevive's DataLoader workers are (`limit_worker_threads`: torch and every BLAS/OpenMP pool)
plus OpenCV's pool: that is the throughput of one worker on one core. The ranking ('x official') is by CPU time of this
process per sample (`time.process_time`, all its threads), so other processes competing for the cores do not
distort it; wall-clock rates are printed beside it. Rounds alternate between the implementations and the median
round is reported.
FaceRevive runs twice, with configs/data/degradation/gfpgan_v1.yaml: its default fast blur (separable, within
1e-4 of the dense filter) and `data.degradation.steps.blur.tolerance=0` (the dense 41x41 cv2.filter2D the
official code uses).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.reference import import_reference, official_ffhq_options
from test_data_support import write_box_file, write_faces

from facerevive.data import FFHQDegradationDataset, load_degradation
from facerevive.data.worker_threads import limit_worker_threads

DENSE_BLUR = "data.degradation.steps.blur.tolerance=0"


def _official_dataset(root: Path, box_path: Path):
    module = import_reference("gfpgan.data.ffhq_degradation_dataset")
    original_load = module.torch.load

    def load_numpy_boxes(path):
        import numpy as np

        with torch.serialization.safe_globals([np._core.multiarray.scalar, np.dtype, np.dtypes.Float64DType]):
            return original_load(path)

    module.torch.load = load_numpy_boxes
    try:
        dataset = module.FFHQDegradationDataset(official_ffhq_options(root, 512, box_path))
    finally:
        module.torch.load = original_load
    dataset.paths = sorted(dataset.paths)
    return dataset


def _time_round(dataset, count: int, start: int) -> tuple[float, float]:
    """(samples per CPU second, samples per wall second) over `count` consecutive items."""
    n = len(dataset)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(count):
        dataset[(start + i) % n]
    return count / (time.process_time() - cpu), count / (time.perf_counter() - wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--samples", type=int, default=60, help="samples per round and implementation")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    limit_worker_threads()
    cv2.setNumThreads(1)  # safe here, in the main process (see facerevive.data.worker_threads)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ffhq_512"
        write_faces(root, args.images, 512, start_seed=args.seed)
        box_path = write_box_file(Path(tmp) / "boxes.pth", args.images, 512)
        datasets = {
            "official GFPGAN": _official_dataset(root, box_path),
            "FaceRevive (fast blur)": FFHQDegradationDataset(root, load_degradation(), component_path=box_path),
            "FaceRevive (dense blur)": FFHQDegradationDataset(
                root, load_degradation(overrides=[DENSE_BLUR]), component_path=box_path
            ),
        }
        import random

        import numpy as np

        np.random.seed(args.seed)
        random.seed(args.seed)
        torch.manual_seed(args.seed)
        for dataset in datasets.values():
            if isinstance(dataset, FFHQDegradationDataset):
                dataset.reseed(args.seed)
            dataset[0]
        rates: dict[str, list[tuple[float, float]]] = {name: [] for name in datasets}
        for r in range(args.rounds):
            for name, dataset in datasets.items():
                rates[name].append(_time_round(dataset, args.samples, r * args.samples))

    cpu = {name: statistics.median(r[0] for r in values) for name, values in rates.items()}
    wall = {name: statistics.median(r[1] for r in values) for name, values in rates.items()}
    print(
        f"512x512, one worker limited to one thread (OpenCV, torch, BLAS/OpenMP), {args.samples} samples x "
        f"{args.rounds} rounds; ranked by CPU time per sample ('x official' = official CPU ms / this CPU ms)"
    )
    print(f"{'implementation':<26}{'CPU ms/sample':>15}{'x official':>12}{'wall ms/sample':>16}{'wall x official':>17}")
    official = "official GFPGAN"
    for name in rates:
        print(
            f"{name:<26}{1000 / cpu[name]:>15.1f}{cpu[name] / cpu[official]:>12.2f}"
            f"{1000 / wall[name]:>16.1f}{wall[name] / wall[official]:>17.2f}"
        )


if __name__ == "__main__":
    main()
