"""Pack a face image set into an LMDB in BasicSR's layout (`facerevive-make-lmdb`).

Layout (the one BasicSR's `make_lmdb_from_imgs` writes and GFPGAN's dataset reads): `<name>.lmdb/` holding
data.mdb / lock.mdb, values = PNG bytes re-encoded at `compress_level`, keys = the image name without its
extension (the bare file stem when stems are unique, as for FFHQ's nested 1024 folders, else the relative
path), and `meta_info.txt` with one line per image: `<key>.png (<h>,<w>,<c>) <compress_level>`. `size` resizes
square images with INTER_AREA on the way in (FFHQ 1024 -> 512). Undecodable or non-8-bit-colour images are listed
and left out; an existing output is never overwritten. The LMDB is built in a temporary folder beside the target
and renamed into place when complete, so a failed run leaves nothing behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from facerevive.data.image_io import BadImageError, decode_bgr8
from facerevive.data.sources import ImageSource, open_source
from facerevive.utils.files import atomic_write_text


def _prepare(img: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or img.shape[:2] == (size, size):
        return img
    if img.shape[0] != img.shape[1]:
        raise BadImageError(f"non-square {img.shape[1]}x{img.shape[0]} image cannot be resized to {size}x{size}")
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def make_lmdb(
    source_root: str | Path, lmdb_path: str | Path, compress_level: int = 1, size: int | None = None, batch: int = 5000
) -> int:
    """Write the LMDB; returns how many images it holds."""
    lmdb_path = Path(lmdb_path)
    if not lmdb_path.name.endswith(".lmdb"):
        raise ValueError(f"the LMDB folder name must end with '.lmdb' (BasicSR convention), got {lmdb_path}")
    if lmdb_path.exists():
        raise FileExistsError(f"{lmdb_path} exists; refusing to overwrite it")
    source = open_source(source_root)
    keys = [Path(k).stem for k in source.keys]
    if len(set(keys)) != len(keys):
        keys = [Path(k).with_suffix("").as_posix() for k in source.keys]
    duplicates = [k for k, n in Counter(keys).items() if n > 1]
    if duplicates:
        raise ValueError(
            f"{source_root} has several images per key (same name, other extension): {sorted(duplicates)[:5]}"
        )
    first = cv2.imencode(
        ".png", _prepare(decode_bgr8(source.read(source.keys[0])), size), [cv2.IMWRITE_PNG_COMPRESSION, compress_level]
    )[1]
    map_size = max(first.nbytes * len(keys) * 10, 1 << 26)
    lmdb_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=lmdb_path.parent, prefix=f".{lmdb_path.name}-"))
    try:
        meta_lines, skipped = _write(source, keys, tmp / lmdb_path.name, map_size, compress_level, size, batch)
        os.replace(tmp / lmdb_path.name, lmdb_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    return len(meta_lines)


def _write(
    source: ImageSource,
    keys: list[str],
    lmdb_path: Path,
    map_size: int,
    compress_level: int,
    size: int | None,
    batch: int,
) -> tuple[list[str], list[str]]:
    """Fill a new LMDB at `lmdb_path` and its meta_info.txt; returns (meta_info lines, skipped files)."""
    import lmdb

    meta_lines, skipped = [], []
    env = lmdb.open(str(lmdb_path), map_size=map_size)
    txn = env.begin(write=True)
    for i, (source_key, key) in enumerate(zip(source.keys, keys, strict=True)):
        try:
            img = _prepare(decode_bgr8(source.read(source_key)), size)
        except BadImageError as exc:
            skipped.append(f"{source.path(source_key)}: {exc}")
            continue
        ok, encoded = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, compress_level])
        if not ok:
            skipped.append(f"{source.path(source_key)}: PNG encoding failed")
            continue
        txn.put(key.encode("ascii"), encoded.tobytes())
        h, w, c = img.shape
        meta_lines.append(f"{key}.png ({h},{w},{c}) {compress_level}\n")
        if (i + 1) % batch == 0:
            txn.commit()
            txn = env.begin(write=True)
    txn.commit()
    env.close()
    atomic_write_text(lmdb_path / "meta_info.txt", "".join(meta_lines))
    return meta_lines, skipped


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="facerevive-make-lmdb", description=__doc__.splitlines()[0])
    parser.add_argument("input", help="folder, list file or zip of images")
    parser.add_argument("output", help="LMDB folder to create, ending in .lmdb")
    parser.add_argument("--compress-level", type=int, default=1, help="PNG compression 0-9 (BasicSR default 1)")
    parser.add_argument("--size", type=int, default=None, help="resize square images to SIZE (INTER_AREA)")
    args = parser.parse_args(argv)
    count = make_lmdb(args.input, args.output, args.compress_level, args.size)
    print(f"wrote {count} images to {args.output}")


if __name__ == "__main__":
    main()
