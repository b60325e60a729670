"""Entry points: `facerevive.cli.train`, `.evaluate` and `.restore`, each a Hydra `main()` over a testable `run(cfg)`.

`CONFIG_DIR` is the one place that says where the Hydra configs live.
"""

from __future__ import annotations

import os
from pathlib import Path

# The checkout that holds configs/ (src/facerevive/cli -> repository root).
PROJECT_ROOT = Path(__file__).resolve().parents[3]
CONFIG_DIR = PROJECT_ROOT / "configs"
os.environ.setdefault("PROJECT_ROOT", str(PROJECT_ROOT))
