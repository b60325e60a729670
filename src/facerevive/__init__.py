"""FaceRevive: GFPGAN blind face restoration as a configuration-driven PyTorch Lightning + Hydra framework.

`from facerevive import Restorer` is the Python API of restoration (facerevive.restore.api); it is imported on
first use, so `import facerevive` stays light.
"""

from typing import TYPE_CHECKING, Any

from facerevive.version import __version__

if TYPE_CHECKING:
    from facerevive.restore.api import Restorer

__all__ = ["Restorer", "__version__"]


def __getattr__(name: str) -> Any:
    """`facerevive.Restorer`, imported on first use (it brings torch, OpenCV and Hydra)."""
    if name == "Restorer":
        from facerevive.restore.api import Restorer

        return Restorer
    raise AttributeError(f"module 'facerevive' has no attribute {name!r}")
