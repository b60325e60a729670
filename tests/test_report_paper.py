"""The report for a paper author: mean ± standard deviation per metric, a booktabs LaTeX table beside metrics.md,
the GT sentence only where there is a GT row, and the provenance of every row in metrics.md/json and the gallery."""

from __future__ import annotations

import json
import statistics

import pytest

from facerevive.evaluation.gallery_page import gallery_html
from facerevive.evaluation.report import MethodResult, Results, json_text, markdown
from facerevive.evaluation.report_files import write_report
from facerevive.evaluation.report_latex import latex_escape, latex_table
from facerevive.metrics.scorers import Column

pytestmark = pytest.mark.unit

PSNR = [20.0, 22.0, 27.0]
SOFTWARE = {"version": "9.9", "git_commit": "abc123", "torch": "2.x", "cuda": "none", "device": "cpu"}
WEIGHTS = {
    "spec": "/runs/r1/checkpoints/last.ckpt",
    "file": "/runs/r1/checkpoints/last.ckpt",
    "sha256": "f" * 64,
    "iteration": 120,
    "total_iter": 400,
    "random_weights": False,
    "source": "/runs/r1/checkpoints/last.ckpt",
}


def _results(with_gt: bool) -> Results:
    images = ["a", "b", "c"]
    columns = [Column("psnr", "PSNR↑", True), Column("fid", "FID↓", False)]
    ours = MethodResult(
        "Ours_1 & co",
        "ours",
        summary={"psnr": statistics.mean(PSNR), "fid": 40.0},
        per_image={name: {"psnr": value} for name, value in zip(images, PSNR)},
        weights=WEIGHTS,
    )
    other = MethodResult(
        "Input",
        "input",
        summary={"psnr": 18.0, "fid": 80.0},
        per_image={name: {"psnr": 18.0} for name in images},
    )
    methods = [other, ours]
    if with_gt:
        methods.append(MethodResult("GT", "gt", is_reference_row=True, summary={"psnr": float("inf"), "fid": 0.0}))
    return Results("my_set", columns, methods, images=images, software=SOFTWARE)


def test_cells_show_mean_and_standard_deviation():
    std = statistics.stdev(PSNR)
    md = markdown(_results(with_gt=False))
    line = next(row for row in md.splitlines() if row.startswith("| Ours_1 & co |"))
    assert f"**{statistics.mean(PSNR):.2f}** ± {std:.2f}" in line
    assert "| **40.00** |" in line  # FID is set-level: no spread
    data = json.loads(json_text(_results(with_gt=False)))
    ours = next(m for m in data["methods"] if m["slug"] == "ours")
    assert abs(ours["std"]["psnr"] - std) < 1e-12 and "fid" not in ours["std"]
    assert ours["weights"]["sha256"] == "f" * 64 and data["software"]["git_commit"] == "abc123"


def test_gt_sentence_only_with_a_gt_row():
    assert "GT row" not in markdown(_results(with_gt=False))
    assert "GT row" not in gallery_html(_results(with_gt=False), [], "t")
    assert "(the GT row is not ranked)" in markdown(_results(with_gt=True))
    assert "(the GT row is not ranked)" in gallery_html(_results(with_gt=True), [], "t")


def test_latex_table_is_booktabs_with_escaped_labels_and_spread():
    tex = latex_table(_results(with_gt=True))
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lcc}"):
        assert rule in tex
    assert r"Ours\_1 \& co & \textbf{23.00} $\pm$ " + f"{statistics.stdev(PSNR):.2f}" in tex
    assert r"PSNR$\uparrow$ & FID$\downarrow$ \\" in tex
    assert r"GT & $\infty$ & 0.00 \\" in tex and tex.count(r"\midrule") == 2  # GT set off by its own rule
    assert latex_escape("50% of $x_{1}#") == r"50\% of \$x\_\{1\}\#"


def test_report_files_include_tex_and_provenance(tmp_path):
    paths = write_report(_results(with_gt=False), tmp_path, [])
    assert paths["latex"] == tmp_path / "metrics.tex" and paths["latex"].read_text().startswith("% FaceRevive")
    md = (tmp_path / "metrics.md").read_text()
    assert "## Provenance" in md and "git abc123" in md
    assert f"/runs/r1/checkpoints/last.ckpt (sha256 {'f' * 64}), iteration 120 of 400, trained weights" in md
    html = (tmp_path / "gallery.html").read_text()
    assert '<ul class="provenance">' in html and "f" * 64 in html
