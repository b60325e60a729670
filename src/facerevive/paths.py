"""Where FaceRevive's files are: the Hydra config folder, the checkout it runs from (if any) and the project root.

The bottom of the package (it imports nothing of FaceRevive) and free of side effects on import: every layer reads
the config folder from here. `CONFIG_DIR` is `facerevive/configs` inside the package (in the checkout a link to
`configs/`, so a wheel carries them); your own configs go in a folder of the same layout, added with Hydra's
`--config-dir <folder>` on any entry point's command line.

`PROJECT_ROOT` is where runs, data and, by default, weights live: the checkout when FaceRevive runs from one, else
the current directory, with weights in `~/.cache/facerevive/pretrained_models` unless `FACEREVIVE_WEIGHTS_DIR`
says otherwise. configs/paths/default.yaml reads both from the environment; `set_config_environment` gives them
their defaults, and the entry points (and the weights folder lookup of the Python API) call it before they
resolve a config.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_DIR = (Path(__file__).parent / "configs").resolve()
# src/facerevive -> the repository root; an installed package has no checkout two levels up.
CHECKOUT = Path(__file__).resolve().parents[2]
IN_CHECKOUT = (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "src" / "facerevive").is_dir()
PROJECT_ROOT = CHECKOUT if IN_CHECKOUT else Path.cwd()
# A checkout's Makefile: where it is, commands say `make ...`; elsewhere the console scripts.
CHECKOUT_MAKEFILE = CHECKOUT / "Makefile"
# The weights folder of an installed package (no checkout): the per-user cache.
INSTALLED_WEIGHTS_DIR = Path.home() / ".cache" / "facerevive" / "pretrained_models"


def config_environment() -> dict[str, str]:
    """The defaults of the environment variables configs/paths/default.yaml reads: PROJECT_ROOT, and outside a
    checkout FACEREVIVE_WEIGHTS_DIR (in a checkout the weights folder defaults to experiments/pretrained_models)."""
    defaults = {"PROJECT_ROOT": str(PROJECT_ROOT)}
    if not IN_CHECKOUT:
        defaults["FACEREVIVE_WEIGHTS_DIR"] = str(INSTALLED_WEIGHTS_DIR)
    return defaults


def set_config_environment() -> None:
    """Set the `config_environment` defaults in this process (a value already set wins), so the configs resolve
    the same paths in every entry point and in the processes they start."""
    for key, value in config_environment().items():
        os.environ.setdefault(key, value)
