"""The command that downloads weight files, as the user can run it where they are.

In a checkout (a Makefile at the repository root) that is `make weights`, elsewhere (an installed wheel) the
`facerevive-weights` console script: every message that sends the user to download weights takes its command
from `weights_command`.
"""

from __future__ import annotations

from pathlib import Path

from facerevive.paths import CHECKOUT_MAKEFILE, IN_CHECKOUT
from facerevive.weights.registry import WEIGHT_FILES


def weights_command(*names: str) -> str:
    """`make weights` / `make weights ARGS="a b"` in a checkout, else `facerevive-weights` / `facerevive-weights a b`
    (no names: every downloadable file)."""
    if IN_CHECKOUT and CHECKOUT_MAKEFILE.is_file():
        if not names:
            return "make weights"
        joined = " ".join(names)
        return f'make weights ARGS="{joined}"' if len(names) > 1 else f"make weights ARGS={joined}"
    return " ".join(("facerevive-weights", *names))


def registry_name(path: str | Path) -> str | None:
    """The weights-registry name whose file is `path`'s file name (None for a file FaceRevive does not fetch)."""
    filename = Path(path).name
    return next((name for name, entry in WEIGHT_FILES.items() if entry.filename == filename), None)
