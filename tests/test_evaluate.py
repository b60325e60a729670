"""`python evaluate.py`: methods, the report files, missing weights, FID statistics cache, error messages."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from facerevive.archs import ResNetArcFace
from facerevive.evaluation import MethodError, evaluate_methods, parse_method
from facerevive.evaluation.methods import latest_quickstart_checkpoint
from facerevive.evaluation.report import MethodResult, Results, best_rows, markdown
from facerevive.metrics import Column
from facerevive.metrics.fid import FIDStats, folder_fingerprint
from facerevive.weights.registry import OFFICIAL_MODELS

ROOT = Path(__file__).resolve().parents[1]
SMALL_GENERATOR = {"out_size": 64, "channel_multiplier": 1}


def _write_faces(folder: Path, count: int, size: int, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        a, b = rng.uniform(2, 8, 2)
        img = np.stack([np.sin(a * xx + i), np.cos(b * yy), np.sin((a + b) * (xx - yy))], -1) * 90 + 128
        img = (img + rng.normal(0, 8, img.shape)).clip(0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"face_{i:02d}.png"), img)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A project root with sample GT faces and a weights folder holding random ArcFace and Inception files."""
    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setenv("FACEREVIVE_WEIGHTS_DIR", str(weights))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no hub-cache files from this machine
    torch.save(ResNetArcFace("IRBlock", (2, 2, 2, 2), use_se=False).state_dict(), weights / "arcface_resnet18.pth")
    _write_faces(tmp_path / "data" / "samples", 3, 192)
    return tmp_path


def _inception_file(workspace: Path) -> Path:
    """The random Inception in the official file layout (torchvision names), under the official file name."""
    from facerevive.metrics.fid import random_inception_trunk

    path = workspace / "weights" / "pt_inception-2015-12-05-6726825d.pth"
    if not path.exists():
        torch.save(random_inception_trunk().state_dict(), path)
    return path


def _config(workspace: Path, overrides: list[str]):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose(
            "evaluate.yaml",
            overrides=[
                f"paths.root_dir={workspace}",
                f"paths.output_dir={workspace / 'run'}",
                "batch_size=3",
                "gallery_size=2",
                *overrides,
            ],
        )


def _small_export(workspace: Path) -> Path:
    """A FaceRevive-style export: params_ema + net_g_config of a small GFPGANv1Clean."""
    from facerevive.weights import generator_from_config

    config = {**OFFICIAL_MODELS["gfpgan_v1.4"].net_g_config, **SMALL_GENERATOR}
    net = generator_from_config(config)
    path = workspace / "ours" / "export.pth"
    path.parent.mkdir()
    torch.save({"params_ema": net.state_dict(), "net_g_config": config}, path)
    return path


@pytest.mark.slow
def test_report_end_to_end(workspace):
    _inception_file(workspace)
    export = _small_export(workspace)
    folder = workspace / "restored_elsewhere"
    cfg0 = _config(workspace, ["methods=[input]", "metrics={}"])
    evaluate_methods(cfg0)  # synthesises the sample LQ set once
    shutil.copytree(Path(cfg0.dataset.synthesize.out) / "hq", folder)  # "restored" = GT: PSNR-raw must be inf
    cfg = _config(workspace, [f"methods=[input,ours:{export},folder:{folder},gfpgan_v1.4,gt]"])
    _, out = evaluate_methods(cfg)

    for name in ("metrics.md", "metrics.csv", "metrics.json", "gallery.html"):
        assert (out / name).is_file(), name
    md = (out / "metrics.md").read_text()
    # Absent weights: the line of the issue, and never a number in those columns.
    for missing in ("vgg16-397923af.pth", "inception_FFHQ_512-f7b384ab.pth", "alignment_WFLW_4HG.pth"):
        assert f"not computed: {missing} missing (make weights)" in md
    assert "GFPGAN v1.4: not computed: GFPGANv1.4.pth missing (make weights)" in md
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [r["method"] for r in rows] == ["Input", "FaceRevive (export)", folder.name, "GFPGAN v1.4", "GT"]
    for row in rows:
        for key in ("lpips", "fid", "lmd", "lpips_alex"):
            assert row[key].startswith("not computed: "), (key, row[key])
    by_method = {r["method"]: r for r in rows}
    assert float(by_method[folder.name]["psnr_raw"]) == float("inf")
    assert float(by_method["FaceRevive (export)"]["ssim"]) < 1.0
    for key in ("niqe", "deg", "idd", "ids", "fid_gt", "psnr", "psnr_y"):
        float(by_method["Input"][key])  # computed: a number
    # Best in bold: the folder row (a copy of GT) wins PSNR-raw; the GT row is never bold.
    folder_line = next(line for line in md.splitlines() if line.startswith(f"| {folder.name} |"))
    gt_line = next(line for line in md.splitlines() if line.startswith("| GT |"))
    assert "**∞**" in folder_line and "**" not in gt_line
    data = json.loads((out / "metrics.json").read_text())
    assert data["images"] == [f"face_{i:02d}" for i in range(3)]
    ours = next(m for m in data["methods"] if m["label"] == "FaceRevive (export)")
    assert set(ours["per_image"]) == set(data["images"])
    assert {"psnr", "ssim", "niqe", "deg", "ids"} <= set(ours["per_image"]["face_00"])
    # FID against GT: statistics cached under a content hash, then reused.
    caches = list((workspace / "experiments" / "fid_stats").glob("gt_*.npz"))
    assert len(caches) == 1
    gt_fid = next(m for m in data["methods"] if m["label"] == "GT")["summary"]["fid_gt"]
    assert abs(gt_fid) < 1e-6
    html = (out / "gallery.html").read_text()
    images = re.findall(r'src="([^"]+)"', html)
    assert len(images) == 2 * 5 and all((out / p).is_file() for p in images)
    assert (out / "restored" / "ours_export" / "face_02.png").is_file()


def test_real_world_set_gets_no_reference_metrics_only(workspace):
    _write_faces(workspace / "data" / "lfw_test", 3, 192, seed=5)
    _inception_file(workspace)
    cfg = _config(workspace, ["dataset=lfw_test", "methods=[input]", "metrics.lpips_alex=null", "metrics.lmd=null"])
    report, out = evaluate_methods(cfg)
    assert [c.key for c in report.columns] == ["fid", "niqe"]
    assert "not computed: inception_FFHQ_512-f7b384ab.pth missing (make weights)" in (out / "metrics.md").read_text()
    assert report.methods[0].summary["niqe"] > 0
    with pytest.raises(MethodError, match="needs a paired set"):
        evaluate_methods(_config(workspace, ["dataset=lfw_test", "methods=[input,gt]"]))


def test_folder_method_names_the_missing_image(workspace):
    folder = workspace / "partial"
    _write_faces(folder, 2, 192)
    cfg = _config(workspace, [f"methods=[folder:{folder}]", "metrics={}"])
    report, _ = evaluate_methods(cfg)
    assert "face_02" in report.methods[0].error and str(folder) in report.methods[0].error


def test_method_strings():
    root = Path("/nonexistent")
    assert parse_method("input", root).kind == "input"
    assert parse_method("v1.4", root).target == "gfpgan_v1.4"
    assert parse_method("random:gfpgan_v1", root).target == "random:gfpgan_v1"
    with pytest.raises(MethodError, match="unknown method 'gfpgan_v9'"):
        parse_method("gfpgan_v9", root)
    with pytest.raises(MethodError, match="does not exist"):
        parse_method("folder:/nonexistent/dir", root)
    with pytest.raises(MethodError, match="run `make train` first"):
        parse_method("ours:latest", root)


def test_latest_quickstart_run_is_the_newest(tmp_path):
    for date in ("2026-01-02_10-00-00", "2026-03-01_09-00-00", "2026-02-01_00-00-00"):
        ckpt = tmp_path / "experiments" / "quickstart" / "runs" / date / "checkpoints" / "last.ckpt"
        ckpt.parent.mkdir(parents=True)
        ckpt.write_bytes(b"x")
    assert latest_quickstart_checkpoint(tmp_path).parts[-3] == "2026-03-01_09-00-00"


def test_make_evaluate_without_quickstart_run_fails_with_one_clear_line(tmp_path):
    _write_faces(tmp_path / "data" / "samples", 2, 192)
    env = {**os.environ, "PROJECT_ROOT": str(tmp_path), "FACEREVIVE_WEIGHTS_DIR": str(tmp_path / "w")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "evaluate.py"), "methods=[ours:latest]", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("evaluate: no quickstart run")
    assert "run `make train` first" in proc.stderr and "Traceback" not in proc.stderr


def test_best_rows_follow_direction_and_skip_gt():
    columns = [Column("psnr", "PSNR↑", True), Column("fid", "FID↓", False)]
    methods = [
        MethodResult("A", "a", summary={"psnr": 20.0, "fid": 50.0}),
        MethodResult("B", "b", summary={"psnr": 25.0, "fid": 60.0}),
        MethodResult("GT", "gt", is_reference_row=True, summary={"psnr": float("inf"), "fid": 1.0}),
    ]
    results = Results("set", columns, methods)
    assert best_rows(results) == {"psnr": {1}, "fid": {0}}
    assert "| A | 20.00 | **50.00** |" in markdown(results)


def test_fid_statistics_cache_is_atomic_and_content_keyed(tmp_path):
    files = []
    for i in range(2):
        files.append(tmp_path / f"{i}.png")
        files[-1].write_bytes(bytes([i]) * 10)
    key = folder_fingerprint(files, "net")
    files[1].write_bytes(b"changed")
    assert folder_fingerprint(files, "net") != key
    assert folder_fingerprint(files, "other net") != folder_fingerprint(files, "net")
    stats = FIDStats.from_features(np.random.default_rng(0).normal(size=(5, 3)))
    stats.save(tmp_path / "cache" / "s.npz")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["s.npz"]  # no temporary left behind
    loaded = FIDStats.load(tmp_path / "cache" / "s.npz")
    np.testing.assert_array_equal(loaded.sigma, stats.sigma)


class RecordingLogger:
    """Stands in for Lightning's WandbLogger: records what the report sends."""

    calls: list = []

    def log_table(self, key, columns, data):
        RecordingLogger.calls.append(("table", key, columns, data))

    def log_image(self, key, images, caption):
        RecordingLogger.calls.append(("image", key, len(images), caption))


def test_table_and_gallery_go_to_the_logger(workspace):
    RecordingLogger.calls = []
    cfg = _config(
        workspace,
        ["methods=[input]", "gallery_size=2", "+logger={rec:{_target_:test_evaluate.RecordingLogger}}"],
    )
    evaluate_methods(cfg)
    tables = [c for c in RecordingLogger.calls if c[0] == "table"]
    assert tables and tables[0][2][:4] == ["method", "LPIPS↓", "FID↓", "NIQE↓"] and tables[0][3][0][0] == "Input"
    assert tables[0][3][0][1] == "not computed"  # the LPIPS backbone is absent here
    images = {c[1]: c[2] for c in RecordingLogger.calls if c[0] == "image"}
    assert images == {"eval/Samples/LQ": 2, "eval/Samples/Input": 2, "eval/Samples/GT": 2}
