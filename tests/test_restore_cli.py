"""The restore command line: --help lists every option with its comment, the official inference_gfpgan.py flags
work as aliases, and bad options are one line and exit 2 before any model is built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from facerevive.cli.restore_options import command_overrides, option_help
from facerevive.restore.build import restore_config
from facerevive.restore.options import OptionError

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_every_user_option_with_its_comment():
    text = option_help(restore_config())
    options = [key for key in restore_config() if key not in ("task_name", "pipeline", "runner")]
    for key in options:
        assert f"  {key}=" in text, key
    assert "fidelity=null" in text and "towards 0 = the StyleGAN2 prior alone" in text and "CodeFormer: its w" in text
    result = subprocess.run([sys.executable, "restore.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and "max_output_megapixels=300" in result.stdout


def test_official_flags_become_options():
    args = ["-i", "in/", "-o", "out/", "-v", "1.4", "-s", "4", "--only_center_face", "--aligned", "--ext=png"]
    args += ["--bg_upsampler", "realesrgan", "-w", "0.5", "noise=fixed"]
    assert command_overrides(args) == [
        "input=in/",
        "output=out/",
        "weights=gfpgan_v1.4",
        "upscale=4",
        "only_center_face=true",
        "aligned=true",
        "ext=png",
        "bg_upsampler=realesrgan",
        "fidelity=0.5",
        "noise=fixed",
    ]
    with pytest.raises(OptionError, match="--suffix: FaceRevive names every output after its input"):
        command_overrides(["--suffix", "x"])
    with pytest.raises(OptionError, match=r"-i needs a value \(input=...\)"):
        command_overrides(["-i"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "restore: input= is required"),
        (["input=x.jpg", "upscale=abc"], "restore: upscale='abc' is not a number"),
        (["input=x.jpg", "upscale=0"], "restore: upscale=0: allowed values are > 0"),
        (["input=x.jpg", "fidelity=2"], "restore: fidelity=2: allowed values are within [0, 1]"),
        (["input=x.jpg", "batch_size=0"], "restore: batch_size=0: allowed values are integers >= 1"),
        (["input=x.jpg", "aligned=maybe"], "restore: aligned='maybe': allowed values are true or false"),
        (["input=x.jpg", "smooth_landmarks=1"], "restore: smooth_landmarks=1: allowed values are within [0, 1)"),
        (["input=x.jpg", "comparison_boxes=2"], "restore: comparison_boxes=2: allowed values are true or false"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(compose, capsys, monkeypatch, args, message):
    from facerevive.cli import restore

    monkeypatch.setattr(restore, "instantiate_pipeline", lambda node: pytest.fail("a model was built"))
    with pytest.raises(SystemExit) as exit_info:
        restore.run(compose("restore.yaml", args))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err
    assert len([line for line in err.splitlines() if line.startswith("restore:")]) == 1


def run_restore_script(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python restore.py <args>` from the checkout, its run folders under `tmp_path`."""
    command = [sys.executable, "restore.py", *args, f"paths.log_dir={tmp_path}"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def test_an_unsupported_official_flag_is_one_line_from_the_script(tmp_path):
    result = run_restore_script(tmp_path, "--suffix", "_r")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("restore: --suffix: FaceRevive names every output after its input")


def test_every_option_has_a_comment():
    """--help is only as good as the comments: every user option of restore.yaml says what it does."""
    text = option_help(restore_config())
    bare = [line for line in text.splitlines() if line.startswith("  ") and len(line.split(None, 1)) == 1]
    assert bare == []
