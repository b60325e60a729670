"""Messages that send the user to download weights name the command that works where they are: `make weights`
in a checkout, the `facerevive-weights` console script elsewhere (an installed wheel has no Makefile)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from facerevive.paths import PROJECT_ROOT
from facerevive.weights import build_generator, download, hint, set_pretrained_dir

pytestmark = pytest.mark.unit


def test_a_checkout_says_make_weights() -> None:
    assert hint.weights_command() == "make weights"
    assert hint.weights_command("gfpgan_v1.4") == "make weights ARGS=gfpgan_v1.4"
    assert hint.weights_command("arcface", "vgg19") == 'make weights ARGS="arcface vgg19"'


def test_outside_a_checkout_the_messages_name_the_console_script(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(hint, "IN_CHECKOUT", False)
    assert hint.weights_command("gfpgan_v1.4") == "facerevive-weights gfpgan_v1.4"
    set_pretrained_dir(tmp_path)
    try:
        with pytest.raises(FileNotFoundError, match=r"\(run `facerevive-weights gfpgan_v1.4`\)$"):
            build_generator("gfpgan_v1.4")
    finally:
        set_pretrained_dir(None)


def test_a_checkout_without_its_makefile_is_not_one_for_make(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(hint, "CHECKOUT_MAKEFILE", tmp_path / "Makefile")
    assert hint.weights_command() == "facerevive-weights"


def test_the_console_script_is_the_download_command() -> None:
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["facerevive-weights"] == "facerevive.weights.download:main"
    assert download.main(["--list", "--dir", str(PROJECT_ROOT / "no_weights_here")]) == 0


def test_registry_name_of_a_file() -> None:
    assert hint.registry_name("/x/GFPGANv1.4.pth") == "gfpgan_v1.4"
    assert hint.registry_name("mine.pth") is None
