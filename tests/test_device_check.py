"""`make device-check` (scripts/device_check.py): its CPU dry run at tiny sizes runs every step and writes every
figure, so the GPU check cannot rot between the sessions that have a GPU; a missing package stops it with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import device_check  # noqa: E402

FIGURES = {"mode", "machine", "device_tests", "train", "compiled_ops", "bench_train", "bench_restore", "projection"}


@pytest.mark.slow
def test_dry_run_runs_every_step_and_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "device_check.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "device_check.py"), "--dry-run", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert set(figures) == {*FIGURES, "total_s"}
    assert figures["mode"] == "dry run" and figures["machine"]["device"] == "cpu"
    tests = figures["device_tests"]
    assert tests["status"] == "ok" and tests["collected"] > 10, tests
    assert {"tests/test_archs_parity.py", "tests/test_train_device.py"} <= set(tests["files"])
    assert set(figures["train"]) == set(device_check.VARIANTS)
    for name, run in figures["train"].items():
        assert run["status"] == "ok", (name, run.get("error_tail"))
        assert run["iterations"] == 1 and run["mean_s_per_iteration"] > 0 and run["peak_memory_gib"] > 0, name
    for bench in ("bench_train", "bench_restore"):
        assert figures[bench]["status"] == "dry run, command line checked: ok", figures[bench]
    projection = figures["projection"]
    assert (projection["iterations"], projection["gpus"], projection["batch_per_gpu"]) == (800_000, 4, 3)
    assert projection["fastest"] in device_check.VARIANTS and projection["fastest_days"] > 0
    assert "official_days" in projection
    print(f"device-check dry run: {figures['total_s']:.0f} s")


def test_a_missing_package_stops_it_with_one_line(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setitem(device_check.REQUIRED, "no_such_module_anywhere", "no-such-distribution")
    monkeypatch.setitem(device_check.REQUIRED, "no_such_parent.child", "no-such-parent")
    assert device_check.main(["--dry-run", "--json", str(tmp_path / "figures.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-distribution, no-such-parent" in err
    assert not (tmp_path / "figures.json").exists()


def test_every_carried_wheel_is_a_required_package() -> None:
    assert set(device_check.CARRIED) <= set(device_check.REQUIRED.values())
    assert "torch" not in device_check.CARRIED, "the GPU machine's own CUDA build of torch is used"


def test_device_tests_are_the_modules_reading_the_test_device() -> None:
    files = device_check.device_test_files()
    assert {"tests/test_archs_parity.py", "tests/test_train_device.py"} <= set(files)
    assert "tests/test_device_check.py" not in files


def test_restore_rates_read_the_all_row_of_bench_restore() -> None:
    names = ["official", "PyTorch fp32", "PyTorch bf16"]
    header = f"{'photo':<22}{'faces':>6}" + "".join(f"{name + ' f/s':>18}" for name in names)
    header += "".join(f"{name + ' x':>15}" for name in names[1:]) + "".join(f"{'CPU x':>8}" for _ in names[1:])
    total = f"{'all':<22}{8:>6}" + "".join(f"{rate:>18.3f}" for rate in (0.5, 2.25, 4.125))
    total += "".join(f"{x:>14.2f}x" for x in (4.5, 8.25)) + "".join(f"{x:>7.2f}x" for x in (3.0, 6.0))
    table = "\n".join(["weights random:gfpgan_v1.4 (clean), device cuda", header, total.replace("all", "group"), total])
    assert device_check.restore_rates(table) == {"official": 0.5, "PyTorch fp32": 2.25, "PyTorch bf16": 4.125}
    assert device_check.restore_rates("no table") == {}


def test_dry_run_is_the_cpu_and_a_full_check_a_gpu() -> None:
    with pytest.raises(SystemExit):
        device_check.main(["--dry-run", "--device", "cuda"])
    with pytest.raises(SystemExit):
        device_check.main(["--device", "cpu"])
