"""The end-of-run summary: aligned labels, where a resumed run's earlier files are, and the next steps with the
real paths of the model just made."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

from facerevive.callbacks import IterationCheckpoint
from facerevive.training.run_files import run_summary

pytestmark = pytest.mark.unit


def _trainer(ckpt_dir: Path) -> SimpleNamespace:
    callback = IterationCheckpoint(ckpt_dir)
    callback.last_model_path = str(ckpt_dir / "last.ckpt")
    callback.last_export_path = str(ckpt_dir / "net_g_latest.pth")
    return SimpleNamespace(callbacks=[callback], loggers=[])


def test_summary_names_the_next_steps_with_real_paths(tmp_path):
    out = tmp_path / "runs" / "new"
    lines = run_summary(_trainer(out / "checkpoints"), out)
    labelled = [line for line in lines if " : " in line and not line.startswith(" ")]
    assert len({line.index(" : ") for line in labelled}) == 1, labelled  # one column of labels
    restore = next(line for line in lines if "restore photos" in line)
    assert f"weights={out / 'checkpoints' / 'net_g_latest.pth'}" in restore and "facerevive-restore" in restore
    evaluate = next(line for line in lines if "score it" in line)
    command = shlex.split(re.sub(r"^.*?: ", "", evaluate).split("  (")[0])
    assert command[1] == f"methods=[input,ours:{out / 'checkpoints' / 'last.ckpt'}]"
    assert not any("resumed from" in line for line in lines)


def test_a_resumed_run_says_where_the_earlier_files_are(tmp_path):
    out, earlier = tmp_path / "runs" / "new", tmp_path / "runs" / "old"
    lines = run_summary(_trainer(out / "checkpoints"), out, resumed_from=str(earlier / "checkpoints" / "last.ckpt"))
    resumed = next(line for line in lines if line.startswith("resumed from"))
    assert f"stay in {earlier}" in resumed
    # A requeued run resumes from its own folder: nothing elsewhere to point at.
    own = run_summary(_trainer(out / "checkpoints"), out, resumed_from=str(out / "checkpoints" / "last.ckpt"))
    assert not any(line.startswith("resumed from") for line in own)
