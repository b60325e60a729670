"""Download the wheels a bare GPU machine lacks for `make device-check` (device_check.CARRIED) into a folder.

    python scripts/device_wheels.py                  # -> .whl/ (git-ignored), for CPython 3.12 on x86-64 Linux
    python scripts/device_wheels.py --python 3.11 --dest /tmp/wheels

Each package at the version installed here (the one the suite passes with). A package published only as source
(basicsr, filterpy) is built into a pure-Python wheel here. On the GPU machine, without an index:
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
"""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
from pathlib import Path

from device_check import CARRIED, ROOT

PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")


def pinned(distribution: str) -> str:
    """`name==version` of the distribution installed here; SystemExit naming it when it is not."""
    try:
        return f"{distribution}=={importlib.metadata.version(distribution)}"
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit(f"device_wheels: {distribution} is not installed here (make install)") from None


def fetch(requirement: str, dest: Path, python: str) -> None:
    """A binary wheel for the target interpreter, else a wheel built here from the source (pure Python only)."""
    pip = [sys.executable, "-m", "pip", "-q"]
    target = ["--python-version", python, "--implementation", "cp", *(f"--platform={p}" for p in PLATFORMS)]
    download = [*pip, "download", "--no-deps", "--only-binary=:all:", *target, "-d", str(dest), requirement]
    if subprocess.run(download, capture_output=True, text=True, check=False).returncode == 0:
        return
    before = set(dest.glob("*.whl"))
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dest), requirement]
    done = subprocess.run(build, capture_output=True, text=True, check=False)
    built = set(dest.glob("*.whl")) - before
    if done.returncode != 0 or not built:
        raise SystemExit(f"device_wheels: no wheel for {requirement}: {done.stderr.strip().splitlines()[-1:]}")
    for wheel in built:
        if not wheel.name.endswith("-py3-none-any.whl"):
            wheel.unlink()
            raise SystemExit(f"device_wheels: {requirement} built a platform wheel here ({wheel.name})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=ROOT / ".whl", help="the folder the wheels go into")
    parser.add_argument("--python", default="3.12", help="the GPU machine's Python version")
    args = parser.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    for distribution in CARRIED:
        requirement = pinned(distribution)
        fetch(requirement, args.dest, args.python)
        print(f"device_wheels: {requirement}", flush=True)
    size = sum(p.stat().st_size for p in args.dest.glob("*.whl")) / 2**20
    print(f"device_wheels: {len(CARRIED)} packages, {size:.1f} MiB in {args.dest}")


if __name__ == "__main__":
    main()
