"""`python evaluate.py` (facerevive.cli.evaluate.run): method specs, the report files, scorer hooks, missing
weights, the weights folder setting, FID statistics cache, error messages."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers.configs import tiny_net_g_config

from facerevive.archs import ResNetArcFace
from facerevive.cli.evaluate import run
from facerevive.evaluation import MethodError, MethodKind, parse_method
from facerevive.evaluation import methods as methods_module
from facerevive.evaluation import runner as runner_module
from facerevive.evaluation.methods import FOLDER_PREFIX, OURS_PREFIX, latest_finished_checkpoint
from facerevive.evaluation.options import SettingError
from facerevive.evaluation.report import MethodResult, Results, best_rows, format_value, markdown
from facerevive.evaluation.runner import evenly_spaced
from facerevive.metrics import Column, Scorer
from facerevive.metrics.fid import FIDStats, folder_fingerprint
from facerevive.weights import pretrained_dir
from facerevive.weights.build import RANDOM_PREFIX

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
# `metrics={}` would merge into the protocol (a no-op): remove it, then add an empty one.
NO_METRICS = ("~metrics", "+metrics={}")


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


@pytest.fixture
def config(workspace, compose):
    """config(overrides): configs/evaluate.yaml composed over the workspace, 3 images a batch, 2 in the gallery."""

    def _config(overrides: list[str]):
        return compose("evaluate.yaml", [f"paths.root_dir={workspace}", "batch_size=3", "gallery_size=2", *overrides])

    return _config


def _inception_file(workspace: Path) -> Path:
    """The random Inception in the official file layout (torchvision names), under the official file name."""
    from facerevive.metrics.fid import random_inception_trunk

    path = workspace / "weights" / "pt_inception-2015-12-05-6726825d.pth"
    if not path.exists():
        torch.save(random_inception_trunk().state_dict(), path)
    return path


def _small_export(workspace: Path) -> Path:
    """A FaceRevive-style export: params_ema + net_g_config of the tests' tiny generator."""
    from facerevive.weights import generator_from_config

    config = tiny_net_g_config()
    net = generator_from_config(config)
    path = workspace / "ours" / "export.pth"
    path.parent.mkdir()
    torch.save({"params_ema": net.state_dict(), "net_g_config": config}, path)
    return path


@pytest.mark.slow
def test_report_end_to_end(workspace, config):
    _inception_file(workspace)
    export = _small_export(workspace)
    folder = workspace / "restored_elsewhere"
    cfg0 = config(["methods=[input]", *NO_METRICS])
    run(cfg0)  # synthesises the sample LQ set once
    shutil.copytree(Path(cfg0.dataset.synthesize.out) / "hq", folder)  # "restored" = GT: PSNR-raw must be inf
    cfg = config([f"methods=[input,ours:{export},folder:{folder},gfpgan_v1.4,gt]"])
    _, out = run(cfg)

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
            assert row[key] == "" and f"{key}" in row["not_computed"], (key, row)
    assert "GFPGANv1.4.pth missing (make weights)" in rows[3]["not_computed"] and rows[3]["psnr"] == ""
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
    caches = list((Path(cfg.paths.log_dir) / "fid_stats").glob("gt_*.npz"))
    assert len(caches) == 1
    gt_fid = next(m for m in data["methods"] if m["label"] == "GT")["summary"]["fid_gt"]
    assert abs(gt_fid) < 1e-6
    html = (out / "gallery.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) == 2 * 4 and all((out / p).is_file() for p in images)  # no LQ column beside Input
    assert (out / "restored" / "ours_export" / "face_02.png").is_file()


def test_real_world_set_gets_no_reference_metrics_only(workspace, config):
    _write_faces(workspace / "data" / "lfw_test", 3, 192, seed=5)
    _inception_file(workspace)
    cfg = config(["dataset=lfw_test", "methods=[input]", "metrics.lpips_alex=null", "metrics.lmd=null"])
    report, out = run(cfg)
    assert [c.key for c in report.columns] == ["fid", "niqe"]
    assert "not computed: inception_FFHQ_512-f7b384ab.pth missing (make weights)" in (out / "metrics.md").read_text()
    assert report.methods[0].summary["niqe"] > 0
    with pytest.raises(MethodError, match="needs a paired set"):
        run(config(["dataset=lfw_test", "methods=[input,gt]"]))


def test_folder_method_names_the_missing_image(workspace, config):
    folder = workspace / "partial"
    _write_faces(folder, 2, 192)
    cfg = config([f"methods=[folder:{folder}]", *NO_METRICS])
    report, _ = run(cfg)
    assert "face_02" in report.methods[0].error and str(folder) in report.methods[0].error


def _run_checkpoint(runs: Path, name: str, iteration: int, total_iter: int) -> Path:
    """A run folder's checkpoints/last.ckpt saying its iteration and its run's model.total_iter (as training
    writes them)."""
    ckpt = runs / name / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"iteration": iteration, "run_config": {"model": {"total_iter": total_iter}}}, ckpt)
    return ckpt


def test_method_specs_one_kind_per_prefix(tmp_path):
    runs = tmp_path / "runs"
    ckpt = _run_checkpoint(runs, "2026-01-02_10-00-00", 400, 400)
    assert parse_method("input", runs).kind is MethodKind.INPUT
    assert parse_method("gt", runs).is_reference_row
    official = parse_method("v1.4", runs)
    assert (official.kind, official.target, official.label) == (MethodKind.OFFICIAL, "gfpgan_v1.4", "GFPGAN v1.4")
    random = parse_method(f"{RANDOM_PREFIX}gfpgan_v1", runs)
    assert (random.kind, random.target, random.slug) == (MethodKind.RANDOM, "gfpgan_v1", "random_gfpgan_v1")
    ours = parse_method(f"{OURS_PREFIX}latest", runs)
    assert (ours.kind, Path(ours.target), ours.label) == (MethodKind.OURS, ckpt, "FaceRevive (2026-01-02_10-00-00)")
    folder = parse_method(f"{FOLDER_PREFIX}{runs}", runs)
    assert (folder.kind, folder.label, folder.slug) == (MethodKind.FOLDER, "runs", "folder_runs")
    with pytest.raises(MethodError, match="unknown method 'gfpgan_v9'"):
        parse_method("gfpgan_v9", runs)
    with pytest.raises(MethodError, match="does not exist"):
        parse_method("folder:/nonexistent/dir", runs)
    with pytest.raises(MethodError, match="run `make train` first"):
        parse_method("ours:latest", tmp_path / "no_runs")


def test_latest_run_is_the_newest_finished_one_and_says_so(tmp_path, caplog):
    """ours:latest passes over a newer run that stopped early (a 1-iteration typo run) and names the one it
    picked; with no finished run it says so in one line."""
    for date in ("2026-01-02_10-00-00", "2026-03-01_09-00-00", "2026-02-01_00-00-00"):
        _run_checkpoint(tmp_path, date, 120, 120)
    _run_checkpoint(tmp_path, "2026-04-01_00-00-00", 1, 400)
    with caplog.at_level(logging.INFO, logger="facerevive.evaluation.methods"):
        picked = latest_finished_checkpoint(tmp_path)
    assert picked.parts[-3] == "2026-03-01_09-00-00"
    assert f"ours:latest is {picked} (iteration 120 of 120" in caplog.text
    assert "2026-04-01_00-00-00 (unfinished: iteration 1 of 400)" in caplog.text
    unfinished = tmp_path / "unfinished"
    _run_checkpoint(unfinished, "2026-05-01_00-00-00", 1, 400)
    with pytest.raises(MethodError, match=r"no finished run .* 2026-05-01_00-00-00 .*iteration 1 of 400"):
        latest_finished_checkpoint(unfinished)


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


def test_table_and_gallery_go_to_the_logger(config):
    RecordingLogger.calls = []
    cfg = config(["methods=[input]", "gallery_size=2", "+logger={rec:{_target_:test_evaluate.RecordingLogger}}"])
    run(cfg)
    tables = [c for c in RecordingLogger.calls if c[0] == "table"]
    assert tables and tables[0][2][:4] == ["method", "LPIPS↓", "FID↓", "NIQE↓"] and tables[0][3][0][0] == "Input"
    assert tables[0][3][0][1] == "not computed"  # the LPIPS backbone is absent here
    images = {c[1]: c[2] for c in RecordingLogger.calls if c[0] == "image"}
    assert images == {"eval/Samples/Input": 2, "eval/Samples/GT": 2}  # no LQ column: the Input row shows it


class CountingScorer(Scorer):
    """A set-level scorer from outside the package: the image count, known only once the method's set is done."""

    columns = (Column("count", "Count↑", True),)
    needs_gt = False
    calls: list[str] = []

    def begin(self):
        CountingScorer.calls.append("begin")
        self.seen = 0

    def update(self, restored, gt):
        CountingScorer.calls.append("update")
        self.seen += restored.shape[0]
        return {}

    def result(self):
        CountingScorer.calls.append("result")
        return {"count": (float(self.seen), "set-level")}


def test_any_scorer_gets_the_set_level_hooks(config):
    CountingScorer.calls = []
    counting = "+metrics={count:{_target_:test_evaluate.CountingScorer}}"
    cfg = config(["methods=[input,gt]", "~metrics", counting, "batch_size=2"])
    report, _ = run(cfg)
    assert CountingScorer.calls == ["begin", "update", "update", "result"] * 2
    assert [m.summary["count"] for m in report.methods] == [3.0, 3.0]
    assert report.methods[0].notes["count"] == "set-level"


def test_paths_pretrained_dir_is_the_weights_folder(config, workspace, monkeypatch):
    monkeypatch.delenv("FACEREVIVE_WEIGHTS_DIR")
    custom = workspace / "elsewhere"
    shutil.move(workspace / "weights", custom)
    identity = ("~metrics", "+metrics={identity:{_target_:facerevive.metrics.IdentityScorer}}")
    default_report, _ = run(config(["methods=[input]", *identity]))  # <root>/experiments/pretrained_models
    assert default_report.not_computed["deg"] == "not computed: arcface_resnet18.pth missing (make weights)"
    report, _ = run(config([f"paths.pretrained_dir={custom}", "methods=[input,gfpgan_v1.4]", *identity]))
    assert "deg" not in report.not_computed and math.isfinite(report.methods[0].summary["ids"])
    assert pretrained_dir() == custom
    # A release name resolves in that folder too: its file is looked for there.
    assert report.methods[1].error == "not computed: GFPGANv1.4.pth missing (make weights)"
    (custom / "GFPGANv1.4.pth").write_bytes(b"not a checkpoint")
    report, _ = run(config([f"paths.pretrained_dir={custom}", "methods=[gfpgan_v1.4]", *NO_METRICS]))
    assert str(custom / "GFPGANv1.4.pth") in report.methods[0].error


def test_a_bug_in_a_method_raises_instead_of_becoming_a_cell(config, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(methods_module, "build_generator", broken)
    with pytest.raises(ValueError, match="a bug"):
        run(config(["methods=[input,random:gfpgan_v1.4]", *NO_METRICS]))


def test_unavailable_device_is_an_error_naming_it(config):
    with pytest.raises(SettingError, match="device=cuda:99"):
        run(config(["device=cuda:99", "methods=[input]", *NO_METRICS]))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("batch_size=0", "batch_size=0: allowed values are integers >= 1"),
        ("num_workers=-1", "num_workers=-1: allowed values are integers >= 0"),
        ("gallery_size=many", "gallery_size='many': allowed values are integers >= 0"),
        ("save_restored=maybe", "save_restored='maybe': allowed values are true or false"),
        ("methods=input", "methods='input': a list is required"),
        ("methods=[input,[gt]]", "methods[1]=['gt']: a text value is required"),
        ("random_overrides=64", "random_overrides=64: a mapping is required"),
        ("threads=0", "threads=0: allowed values are integers >= 1"),
    ],
)
def test_bad_options_are_one_error_naming_the_key_before_anything_is_built(config, monkeypatch, override, message):
    def no_test_set(*args, **kwargs):
        raise AssertionError("the test set was loaded before the options were checked")

    monkeypatch.setattr(runner_module, "load_test_set", no_test_set)
    with pytest.raises(SettingError) as refused:
        run(config([override, *NO_METRICS]))
    assert str(refused.value).startswith(message), str(refused.value)


def test_random_method_with_overrides_restores_at_its_size(config):
    report, out = run(config(["methods=[random:gfpgan_v1.4]", "random_overrides={out_size:64}", "metrics.lpips=null"]))
    assert not report.methods[0].error
    restored = cv2.imread(str(out / "restored" / "random_gfpgan_v1.4" / "face_00.png"))
    assert restored.shape == (512, 512, 3)


ONLY_PSNR_RAW = [
    f"metrics.{name}=null"
    for name in ("lpips", "fid", "niqe", "identity", "psnr_ssim", "psnr_ssim_y", "lpips_alex", "fid_gt", "lmd")
]


def test_bad_images_are_marked_per_method_and_the_report_is_written(workspace, config):
    """One corrupt image (test set or folder) costs that image, not the report; resizes are stated."""
    cfg0 = config(["methods=[input]", *NO_METRICS])
    run(cfg0)
    sample = Path(cfg0.dataset.synthesize.out)
    folder = workspace / "restored_elsewhere"
    shutil.copytree(sample / "hq", folder)
    data = (folder / "face_01.png").read_bytes()
    (folder / "face_01.png").write_bytes(data[: len(data) // 2])
    small = cv2.imread(str(folder / "face_02.png"))
    cv2.imwrite(str(folder / "face_02.png"), cv2.resize(small, (96, 96)))
    (sample / "lq" / "face_00.png").write_bytes(b"not an image")

    report, out = run(config([f"methods=[input,folder:{folder},gt]", *ONLY_PSNR_RAW]))
    rows = {m.label: m for m in report.methods}
    assert set(rows["Input"].bad_images) == {"face_00"} and "face_00.png" in rows["Input"].bad_images["face_00"]
    assert set(rows[folder.name].bad_images) == {"face_00", "face_01"}
    assert str(folder / "face_01.png") in rows[folder.name].bad_images["face_01"]
    assert "truncated PNG" in rows[folder.name].bad_images["face_01"]
    assert set(rows[folder.name].per_image) == {"face_02"} and not rows[folder.name].error
    assert rows[folder.name].resized == {"96x96 -> 512x512": 1}
    md = (out / "metrics.md").read_text()
    assert f"- {folder.name}: 2 of 3 images not scored (the scores are over the other 1): face_00" in md
    assert f"- {folder.name}: 1 of 3 images resized to the GT size (96x96 -> 512x512)" in md
    saved = json.loads((out / "metrics.json").read_text())
    assert next(m for m in saved["methods"] if m["label"] == "GT")["bad_images"].keys() == {"face_00"}


def test_a_bug_keeps_the_rows_done(config, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(methods_module, "build_generator", broken)
    cfg = config(["methods=[input,random:gfpgan_v1.4]", *NO_METRICS])
    with pytest.raises(ValueError, match="a bug"):
        run(cfg)
    md = (Path(cfg.paths.output_dir) / "metrics.md").read_text()
    assert "| Input |" in md and "INTERRUPTED: GFPGAN v1.4 (random weights) failed with ValueError: a bug" in md


class PageTables(HTMLParser):
    """The tables of an HTML page: for each, its header row and body rows, each cell as
    {"text", "img" (src), "href", "colspan"}; and the texts of its <p class=...> paragraphs by class."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.paragraphs: dict[str, list] = {}
        self._cell: dict | None = None
        self._text: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append({"class": attrs.get("class"), "head": [], "rows": []})
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = {"text": "", "img": None, "href": None, "colspan": int(attrs.get("colspan", 1))}
            self.tables[-1]["rows"][-1].append(self._cell)
        elif tag == "img" and self._cell is not None:
            self._cell["img"] = attrs["src"]
        elif tag == "a" and self._cell is not None:
            self._cell["href"] = attrs["href"]
        elif tag == "br" and self._cell is not None:
            self._cell["text"] += "\n"
        elif tag == "p" and attrs.get("class"):
            self._text = []
            self.paragraphs.setdefault(attrs["class"], []).append(self._text)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._cell = None
        elif tag == "p":
            self._text = None
        elif tag == "table":
            table = self.tables[-1]
            table["head"], table["rows"] = table["rows"][0], table["rows"][1:]

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._text is not None:
            self._text.append(data)

    @classmethod
    def of(cls, page: str) -> PageTables:
        parser = cls()
        parser.feed(page)
        parser.paragraphs = {key: ["".join(parts) for parts in texts] for key, texts in parser.paragraphs.items()}
        return parser


PSNR_RAW_AND_LPIPS = [
    f"metrics.{name}=null"
    for name in ("fid", "niqe", "identity", "psnr_ssim", "psnr_ssim_y", "lpips_alex", "fid_gt", "lmd")
]


def test_gallery_page_csvs_and_note(workspace, config):
    """gallery.html: a real scores table (computed columns only, the others in one note), every image with its
    own scores, linked full size, no LQ column beside Input; metrics.csv empty where no number, with reasons;
    per_image.csv; the sample set's note."""
    report, out = run(config(["methods=[input,gfpgan_v1.4,gt]", "gallery_size=16", *PSNR_RAW_AND_LPIPS]))
    page = PageTables.of((out / "gallery.html").read_text(encoding="utf-8"))
    scores, images = page.tables
    assert (scores["class"], images["class"]) == ("scores", "gallery")
    assert [c["text"] for c in scores["head"]] == ["Method", "PSNR (raw)↑", "SSIM (raw)↑"]  # LPIPS collapsed
    assert [r[0]["text"] for r in scores["rows"]] == ["Input", "GFPGAN v1.4", "GT"]
    input_psnr = report.methods[0].summary["psnr_raw"]
    input_std = format_value("psnr_raw", report.methods[0].std("psnr_raw"))
    assert scores["rows"][0][1]["text"] == f"{format_value('psnr_raw', input_psnr)} ± {input_std}"
    assert scores["rows"][2][1]["text"] == "∞"
    error = scores["rows"][1][1]
    assert error["colspan"] == 2 and error["text"] == "not computed: GFPGANv1.4.pth missing (make weights)"
    assert page.paragraphs["not-computed"] == ["Not computed: LPIPS↓ — vgg16-397923af.pth missing (make weights)"]
    assert "quickstart" in page.paragraphs["note"][0]
    assert "**Note:** these are the faces" in (out / "metrics.md").read_text(encoding="utf-8")

    assert [c["text"] for c in images["head"]] == ["image", "Input", "GFPGAN v1.4", "GT"]  # no LQ
    assert [r[0]["text"] for r in images["rows"]] == ["face_00", "face_01", "face_02"]  # every image
    for row, name in zip(images["rows"], report.images):
        for cell in (row[1], row[3]):
            assert cell["img"] == cell["href"] and (out / cell["img"]).is_file()  # click to enlarge
        own = report.methods[0].per_image[name]
        assert row[1]["text"].split("\n") == [
            f"PSNR (raw)↑ {format_value('psnr_raw', own['psnr_raw'])}",
            f"SSIM (raw)↑ {format_value('ssim_raw', own['ssim_raw'])}",
        ]
        assert row[2]["img"] is None and "GFPGANv1.4.pth missing" in row[2]["text"]

    metrics = {r["method"]: r for r in csv.DictReader((out / "metrics.csv").open(encoding="utf-8"))}
    assert list(metrics["Input"]) == ["method", "lpips", "psnr_raw", "ssim_raw", "not_computed"]
    assert float(metrics["Input"]["psnr_raw"]) == input_psnr and metrics["Input"]["lpips"] == ""
    assert metrics["Input"]["not_computed"] == "lpips: vgg16-397923af.pth missing (make weights)"
    assert math.isinf(float(metrics["GT"]["psnr_raw"]))
    gfpgan = metrics["GFPGAN v1.4"]
    assert gfpgan["psnr_raw"] == gfpgan["ssim_raw"] == ""
    assert gfpgan["not_computed"] == (
        "lpips: vgg16-397923af.pth missing (make weights); psnr_raw, ssim_raw: GFPGANv1.4.pth missing (make weights)"
    )
    per_image = list(csv.DictReader((out / "per_image.csv").open(encoding="utf-8")))
    assert [(r["image"], r["method"]) for r in per_image] == [
        (name, method) for method in ("Input", "GT") for name in report.images
    ]
    assert list(per_image[0]) == ["image", "method", "psnr_raw", "ssim_raw", "not_scored"]
    for row in per_image[:3]:
        assert float(row["psnr_raw"]) == report.methods[0].per_image[row["image"]]["psnr_raw"]


def test_gallery_shows_every_image_of_a_small_set():
    assert evenly_spaced(3, 8) == [0, 1, 2]
    assert evenly_spaced(4, 4) == [0, 1, 2, 3]
    assert evenly_spaced(10, 4) == [0, 3, 6, 9]
    assert evenly_spaced(5, None) == [0, 1, 2, 3, 4]
    assert evenly_spaced(7, 1) == [0] and evenly_spaced(0, 8) == []


class TerminalStream(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_over_batches_on_a_terminal_only(config, monkeypatch):
    cases = ((TerminalStream(), False, True), (TerminalStream(), True, False), (io.StringIO(), False, False))
    for stream, quiet, drawn in cases:
        monkeypatch.setattr(sys, "stderr", stream)
        run(config(["methods=[input]", "batch_size=1", f"progress={not quiet}", *NO_METRICS]))
        text = stream.getvalue()
        assert ("Input: 100%" in text and "3/3" in text and "batch/s" in text) is drawn, text
