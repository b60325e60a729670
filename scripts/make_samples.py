"""Make data/samples/: public-domain portraits that ship inside installed packages, aligned to the FFHQ template.

The two photos go through `facerevive.data.prepare_faces` (the tool for your own photos): the most confident
face of each photo and of its left-right mirror image, aligned at 512 px, plus `components_512.json`.
The output folder must hold no faces yet (delete data/samples/*.png and the box file to rebuild it there).

    python scripts/make_samples.py [--out data/samples]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import skimage.data

from facerevive.data.prepare_faces import prepare_faces


def sources() -> dict[str, np.ndarray]:
    """BGR uint8 photos of people in the public domain, from installed packages."""
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return {
        "astronaut": cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR),
        "grace_hopper": cv2.imread(str(hopper)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "samples")
    args = parser.parse_args()
    boxes = prepare_faces(sources().items(), args.out, one_face=True, mirror=True)
    print(f"wrote {len(boxes)} faces and {args.out / 'components_512.json'}")


if __name__ == "__main__":
    main()
