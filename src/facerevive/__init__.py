"""FaceRevive: GFPGAN blind face restoration as a configuration-driven PyTorch Lightning + Hydra framework.

`from facerevive import Restorer` is the Python API of restoration (facerevive.restore.api); it is imported on
first use, so `import facerevive` stays light.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from facerevive.restore.api import Restorer

try:
    __version__ = version("facerevive")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"

__all__ = ["Restorer", "__version__"]


def __getattr__(name: str) -> Any:
    """`facerevive.Restorer`, imported on first use (it brings torch, OpenCV and Hydra)."""
    if name == "Restorer":
        from facerevive.restore.api import Restorer

        return Restorer
    raise AttributeError(f"module 'facerevive' has no attribute {name!r}")
