"""`make weights`: download the official release files, verify their SHA-256, never leave a partial file.

python -m facerevive.weights.download                 # every registered file (manual ones: where to get them;
                                                      # other projects' models only when named)
python -m facerevive.weights.download codeformer restoreformer++   # CodeFormer, RestoreFormer++ (their licences)
python -m facerevive.weights.download gfpgan_v1.4 arcface
python -m facerevive.weights.download --list
python -m facerevive.weights.download --safetensors gfpgan_v1.4   # also write GFPGANv1.4.safetensors
python -m facerevive.weights.download paths.pretrained_dir=/data/weights   # the training/restore setting

Each download shows a progress bar with the file's size on stderr when it is a terminal (--quiet: none), and
every fetched file's size is printed with its path.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from facerevive.utils.files import atomic_path
from facerevive.utils.progress import progress_bar
from facerevive.weights.hint import weights_command
from facerevive.weights.registry import OFFICIAL_MODELS, WEIGHT_FILES, WeightFile, pretrained_dir

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A file that could not be fetched or failed its checksum."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_problem(entry: WeightFile, digest: str) -> str | None:
    """Why `digest` does not match the registry entry, or None when it does."""
    if entry.sha256 and digest != entry.sha256:
        return f"SHA-256 {digest} differs from the published {entry.sha256}"
    if entry.sha256_prefix and not digest.startswith(entry.sha256_prefix):
        return f"SHA-256 {digest} does not start with {entry.sha256_prefix} (from the file name)"
    return None


def human_size(size: int) -> str:
    """A byte count as people read it: '332.4 MiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def fetch(entry: WeightFile, destination: Path, timeout: float = 60.0, quiet: bool = False) -> str:
    """Download `entry` to `destination` atomically (checksum first, then the rename); return its SHA-256.

    A progress bar (bytes of the file's size, rate, ETA) runs on stderr when it is a terminal, unless `quiet`.
    On any failure the temporary file is removed and `destination` is left as it was.
    """
    digest = hashlib.sha256()
    try:
        with atomic_path(destination) as tmp:
            with tmp.open("wb") as out, urllib.request.urlopen(entry.url, timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                with progress_bar(
                    desc=entry.filename,
                    total=int(length) if length and length.isdigit() else None,
                    quiet=quiet,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                ) as bar:
                    for chunk in iter(lambda: response.read(CHUNK), b""):
                        digest.update(chunk)
                        out.write(chunk)
                        bar.update(len(chunk))
            problem = checksum_problem(entry, digest.hexdigest())
            if problem:
                raise DownloadError(f"{entry.filename} from {entry.url}: {problem}; the download was discarded")
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot download {entry.filename} from {entry.url}: {reason}") from exc
    return digest.hexdigest()


def ensure(name: str, directory: Path | None = None, quiet: bool = False) -> Path:
    """Path of a registered file, downloading it if it is absent (a progress bar unless `quiet`); a present
    file is checked first."""
    entry = WEIGHT_FILES[name]
    path = (directory or pretrained_dir()) / entry.filename
    if path.is_file():
        problem = checksum_problem(entry, sha256_of(path))
        if problem is None:
            return path
        raise DownloadError(f"{path} is present but its {problem}; delete it and run `{weights_command()}` again")
    if entry.manual:
        raise DownloadError(f"{entry.filename} is published only at {entry.url}: download it by hand into {path}")
    fetch(entry, path, quiet=quiet)
    return path


def convert_to_safetensors(path: Path, net_g_config: dict[str, Any]) -> Path:
    """Write the release `path` (read safely) next to it as .safetensors, with `net_g_config` (the release's
    generator config) in the metadata when the file does not carry one; build_generator loads either file."""
    from facerevive.weights.checkpoint import read_checkpoint, save_export_safetensors
    from facerevive.weights.provenance import export_metadata, weights_record

    export = read_checkpoint(path)
    export.setdefault("net_g_config", net_g_config)
    record = weights_record(str(path))
    metadata = {"source": str(path), "source_sha256": record.sha256 or "unknown", **export_metadata(record, "cpu")}
    return save_export_safetensors(export, path.with_suffix(".safetensors"), metadata)


def configured_dir(overrides: list[str]) -> Path:
    """`paths.pretrained_dir` of the `paths` config group composed with Hydra `overrides` (as the entry points
    compose it, so `paths.pretrained_dir=...` means the same folder here as in train/evaluate/restore)."""
    from hydra import compose, initialize_config_dir

    from facerevive.paths import CONFIG_DIR, set_config_environment

    set_config_environment()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(overrides=["+paths=default", *overrides])
    return Path(cfg.paths.pretrained_dir)


def main(argv: list[str] | None = None) -> int:
    """Fetch the named (default: all downloadable) files; exit status 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "names",
        nargs="*",
        help=f"files to fetch (default: all): {', '.join(WEIGHT_FILES)}; key=value items are Hydra overrides "
        "of the paths group (paths.pretrained_dir=...)",
    )
    parser.add_argument("--dir", type=Path, default=None, help="target folder (default: paths.pretrained_dir)")
    parser.add_argument("--list", action="store_true", help="list the registered files and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--safetensors",
        action="store_true",
        help="also convert each fetched restoration model (gfpgan_*) to .safetensors next to it",
    )
    args = parser.parse_args(argv)
    overrides = [item for item in args.names if "=" in item]
    names = [item for item in args.names if "=" not in item]
    if args.dir is not None:
        directory = args.dir
    elif overrides:
        from hydra.errors import HydraException

        try:
            directory = configured_dir(overrides)
        except HydraException as exc:
            parser.error(f"bad override in {overrides}: {exc}")
    else:
        directory = pretrained_dir()
    if args.list:
        print(f"weights folder: {directory}")
        for name, entry in WEIGHT_FILES.items():
            state = "present" if (directory / entry.filename).is_file() else "missing"
            print(f"{name:20s} {state:8s} {entry.filename:50s} {entry.purpose}")
        return 0
    unknown = [name for name in names if name not in WEIGHT_FILES]
    if unknown:
        parser.error(f"unknown names {unknown}; known: {', '.join(WEIGHT_FILES)}")
    failures = 0
    for name in names or list(WEIGHT_FILES):
        entry = WEIGHT_FILES[name]
        if not names and entry.manual and not (directory / entry.filename).is_file():
            # Not a failure of a bare `make weights`: only the user can fetch these (a Drive folder).
            print(f"manual   {entry.filename}: published only at {entry.url}; download it by hand into {directory}")
            continue
        if not names and entry.on_request and not (directory / entry.filename).is_file():
            command = f"python -m facerevive.weights.download {name}"
            print(f"skipped  {entry.filename}: {entry.purpose}; fetched only when named: `{command}`")
            continue
        try:
            path = ensure(name, directory, quiet=args.quiet)
            if args.safetensors and name in OFFICIAL_MODELS:
                print(f"ok       {convert_to_safetensors(path, OFFICIAL_MODELS[name].net_g_config)}")
            size = human_size(path.stat().st_size)
            if WEIGHT_FILES[name].sha256 is None:
                print(f"ok       {path} (no published SHA-256 to check; its SHA-256 is {sha256_of(path)}), {size}")
            else:
                print(f"ok       {path} ({size})")
        except DownloadError as exc:
            failures += 1
            print(f"FAILED   {exc}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
