"""Where metric weight files are looked up, and the one message a metric gives when one is missing.

Every file is registered in `facerevive.weights.registry` (`make weights`). A file is searched in the
FaceRevive weights folder (`make weights`), then in torch's hub cache, where torchvision, lpips and
pytorch-fid put their downloads, so a machine that already ran those packages needs nothing new.
"""

from __future__ import annotations

import os
from pathlib import Path

from facerevive.weights.registry import WEIGHT_FILES, pretrained_dir


class MissingWeightsError(FileNotFoundError):
    """A metric cannot run because a weight file is absent; `str()` is the line the report prints."""

    def __init__(self, filename: str) -> None:
        super().__init__(filename)
        self.filename = filename

    def __str__(self) -> str:
        from facerevive.weights.hint import weights_command

        return f"not computed: {self.filename} missing ({weights_command()})"


def _hub_checkpoints() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(torch_home) / "hub" / "checkpoints"


def find_weight(name_or_path: str | Path) -> Path:
    """Path of a metric weight (a registered name or an explicit path); MissingWeightsError when absent."""
    text = str(name_or_path)
    if text in WEIGHT_FILES:
        filename = WEIGHT_FILES[text].filename
        for folder in (pretrained_dir(), _hub_checkpoints(), _hub_checkpoints().parent / "facexlib"):
            if (folder / filename).is_file():
                return folder / filename
        raise MissingWeightsError(filename)
    path = Path(text)
    if not path.is_file():
        raise MissingWeightsError(str(path))
    return path
