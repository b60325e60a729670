"""Where face images come from: a folder, a list file, an LMDB (BasicSR layout) or a zip archive.

Every source lists its images as sorted keys and returns their encoded bytes; decoding and checking happen in
`facerevive.data.image_io`. Sources open lazily (LMDB environments and zip handles are opened in the process
that reads, so they survive being pickled into DataLoader workers). A missing or empty source fails at
construction with a message naming it.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facerevive.data.image_io import BadImageError, load_face

if TYPE_CHECKING:
    import lmdb

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class SourceError(ValueError):
    """A dataset source is missing, empty or malformed."""


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


class ImageSource:
    """Sorted image keys plus `read(key) -> bytes`; `path(key)` is the human-readable location."""

    root: str
    keys: list[str]

    def read(self, key: str) -> bytes:
        raise NotImplementedError

    def path(self, key: str) -> str:
        return str(Path(self.root) / key)

    def __len__(self) -> int:
        return len(self.keys)

    def _require_keys(self, what: str) -> None:
        if not self.keys:
            raise SourceError(f"{what} {self.root} contains no images (extensions {', '.join(IMAGE_EXTENSIONS)})")


class FolderSource(ImageSource):
    """All images under a folder (recursively), keyed by their path relative to it."""

    def __init__(self, root: str | Path) -> None:
        self.root = str(root)
        folder = Path(root)
        if not folder.is_dir():
            raise SourceError(f"image folder {folder} does not exist or is not a folder")
        self.keys = sorted(
            p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and _is_image_name(p.name)
        )
        self._require_keys("image folder")

    def read(self, key: str) -> bytes:
        return (Path(self.root) / key).read_bytes()


class ListFileSource(ImageSource):
    """Images named one per line in a text file; names resolve against `root` (default: the file's folder).

    Blank lines and lines starting with '#' are ignored. A listed file that does not exist, or a name that leads
    outside `root` (absolute, or up through `..`), fails at start: the file's lines are data, not paths to anywhere.
    """

    def __init__(self, list_file: str | Path, root: str | Path | None = None) -> None:
        list_path = Path(list_file)
        if not list_path.is_file():
            raise SourceError(f"list file {list_path} does not exist")
        self.root = str(root if root is not None else list_path.parent)
        lines = [line.strip() for line in list_path.read_text().splitlines()]
        self.keys = [line for line in lines if line and not line.startswith("#")]
        if not self.keys:
            raise SourceError(f"list file {list_path} names no images")
        root_dir = Path(os.path.normpath(os.path.abspath(self.root)))
        outside = next(
            (k for k in self.keys if not Path(os.path.normpath(root_dir / k)).is_relative_to(root_dir)), None
        )
        if outside is not None:
            raise SourceError(
                f"list file {list_path} names {outside}, outside its root {self.root}: names are read only "
                "under the root (set `root` to the folder that holds the images)"
            )
        missing = next((k for k in self.keys if not (Path(self.root) / k).is_file()), None)
        if missing is not None:
            raise SourceError(f"list file {list_path} names {missing}, which does not exist under {self.root}")

    def read(self, key: str) -> bytes:
        return (Path(self.root) / key).read_bytes()


def read_meta_info(lmdb_root: str | Path) -> list[str]:
    """Keys from an LMDB's meta_info.txt: lines '<key>.png (h,w,c) <compression>', the BasicSR format."""
    meta = Path(lmdb_root) / "meta_info.txt"
    if not meta.is_file():
        raise SourceError(f"LMDB {lmdb_root} has no meta_info.txt (write LMDBs with facerevive-make-lmdb)")
    keys = []
    for line in meta.read_text().splitlines():
        if line.strip():
            name = line.split(" ")[0]
            keys.append(name.rsplit(".", 1)[0])
    return keys


class LmdbSource(ImageSource):
    """A BasicSR-style LMDB folder (`*.lmdb` with data.mdb and meta_info.txt); keys are the stored keys."""

    def __init__(self, root: str | Path) -> None:
        self.root = str(root)
        if not Path(root).is_dir():
            raise SourceError(f"LMDB {root} does not exist")
        if not str(root).rstrip("/").endswith(".lmdb"):
            raise SourceError(f"LMDB folder names end with '.lmdb' (BasicSR convention), got {root}")
        self.keys = read_meta_info(root)
        self._require_keys("LMDB")
        self._env: lmdb.Environment | None = None
        self._owner: int | None = None

    def read(self, key: str) -> bytes:
        if self._env is None or self._owner != os.getpid():
            import lmdb

            # One environment per process: a handle inherited through fork is released (py-lmdb refuses to
            # open a path twice in one process) and never read from.
            if self._env is not None:
                self._env.close()
            self._env = lmdb.open(self.root, readonly=True, lock=False, readahead=False, meminit=False)
            self._owner = os.getpid()
        with self._env.begin(write=False) as txn:
            value = txn.get(key.encode("ascii"))
        if value is None:
            raise KeyError(f"key {key} is listed in {self.root}/meta_info.txt but not stored in the LMDB")
        return bytes(value)

    def path(self, key: str) -> str:
        return key

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_env": None}


class ZipSource(ImageSource):
    """Images inside a zip archive, keyed by their member name."""

    def __init__(self, root: str | Path) -> None:
        self.root = str(root)
        if not Path(root).is_file():
            raise SourceError(f"zip archive {root} does not exist")
        try:
            with zipfile.ZipFile(root) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile as exc:
            raise SourceError(f"{root} is not a readable zip archive: {exc}") from exc
        self.keys = sorted(n for n in names if not n.endswith("/") and _is_image_name(n))
        self._require_keys("zip archive")
        self._zip: zipfile.ZipFile | None = None
        self._owner: int | None = None

    def read(self, key: str) -> bytes:
        if self._zip is None or self._owner != os.getpid():
            # One handle per process: forked workers sharing a file offset would read each other's bytes.
            self._zip = zipfile.ZipFile(self.root)
            self._owner = os.getpid()
        return self._zip.read(key)

    def path(self, key: str) -> str:
        return f"{self.root}::{key}"

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_zip": None}


def open_source(root: str | Path, kind: str = "auto", list_file: str | Path | None = None) -> ImageSource:
    """Open `root` as a 'folder', 'list', 'lmdb' or 'zip' source; 'auto' picks by the path."""
    root_str = str(root)
    if kind == "auto":
        if list_file is not None or root_str.endswith((".txt", ".list")):
            kind = "list"
        elif root_str.rstrip("/").endswith(".lmdb"):
            kind = "lmdb"
        elif root_str.endswith(".zip"):
            kind = "zip"
        else:
            kind = "folder"
    if kind == "folder":
        return FolderSource(root)
    if kind == "list":
        if list_file is not None:
            return ListFileSource(list_file, root)
        return ListFileSource(root)
    if kind == "lmdb":
        return LmdbSource(root)
    if kind == "zip":
        return ZipSource(root)
    raise SourceError(f"unknown source kind {kind!r}; use folder, list, lmdb, zip or auto")


def stem(key: str) -> str:
    """The file name without folders and extension: the key a component-box file uses."""
    return Path(key).stem


def first_good_face(
    source: ImageSource, index: int, bad_files: dict[str, str], out_size: int, resize: bool
) -> tuple[int, np.ndarray]:
    """(position, face) of the face at `index`, or at the next readable one: a bad file is recorded in
    `bad_files` (key -> reason) and warned about once, then never read again; RuntimeError when none is left."""
    count = len(source.keys)
    for offset in range(count):
        candidate = (index + offset) % count
        key = source.keys[candidate]
        if key in bad_files:
            continue
        try:
            return candidate, load_face(source.read(key), out_size, resize)
        except (BadImageError, OSError, KeyError) as exc:
            bad_files[key] = str(exc)
            warnings.warn(f"skipping {source.path(key)}: {exc} ({len(bad_files)} bad file(s) so far)", stacklevel=3)
    raise RuntimeError(f"no usable image in {source.root}: every file was rejected ({bad_files})")
