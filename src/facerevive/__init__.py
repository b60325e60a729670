"""FaceRevive: GFPGAN blind face restoration as a configuration-driven PyTorch Lightning + Hydra framework."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("facerevive")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"
