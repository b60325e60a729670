"""Entry points: `facerevive.cli.train`, `.evaluate` and `.restore`, each a Hydra `main()` over a testable `run(cfg)`.

`CONFIG_DIR` is the one place that says where the Hydra configs live: `facerevive/configs` inside the package (in
the checkout a link to `configs/`, so a wheel carries them). Your own configs go in a folder of the same layout,
added with Hydra's `--config-dir <folder>` on any entry point's command line.

`PROJECT_ROOT` is where runs, data and, by default, weights live: the checkout when FaceRevive runs from one, else
the current directory, with weights in `~/.cache/facerevive/pretrained_models` unless `FACEREVIVE_WEIGHTS_DIR`
says otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_DIR = (Path(__file__).parents[1] / "configs").resolve()
# src/facerevive/cli -> the repository root; an installed package has no checkout three levels up.
_CHECKOUT = Path(__file__).resolve().parents[3]
IN_CHECKOUT = (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "src" / "facerevive").is_dir()
PROJECT_ROOT = _CHECKOUT if IN_CHECKOUT else Path.cwd()
# A checkout's Makefile: where it is, commands say `make ...`; elsewhere the console scripts.
CHECKOUT_MAKEFILE = _CHECKOUT / "Makefile"
os.environ.setdefault("PROJECT_ROOT", str(PROJECT_ROOT))
if not IN_CHECKOUT:
    os.environ.setdefault("FACEREVIVE_WEIGHTS_DIR", str(Path.home() / ".cache" / "facerevive" / "pretrained_models"))
