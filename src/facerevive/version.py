"""The installed FaceRevive version (its one home: the package metadata), at the bottom of the package so that
records and exports can name it without importing `facerevive`'s API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("facerevive")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"
