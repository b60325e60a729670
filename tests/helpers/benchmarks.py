"""Running a benchmark script as a test does: in a subprocess, its figures written to a JSON file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_benchmark(script: str, args: list[str], tmp_path: Path, timeout: float) -> tuple[str, dict[str, Any]]:
    """(stdout, figures) of `benchmarks/<script> <args> --json <file>`; fails with its stderr when it exits non-zero."""
    figures_path = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args, "--json", str(figures_path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(figures_path.read_text())
