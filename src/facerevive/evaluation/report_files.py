"""Write every file of an evaluation report into the run folder, each atomically."""

from __future__ import annotations

from pathlib import Path

from facerevive.evaluation.gallery_page import gallery_html
from facerevive.evaluation.report import Results, csv_text, json_text, markdown, per_image_csv_text
from facerevive.evaluation.report_latex import latex_table
from facerevive.utils.files import atomic_write


def write_report(results: Results, out_dir: Path, gallery_rows: list[dict[str, str]]) -> dict[str, Path]:
    """Write metrics.md, metrics.tex, metrics.csv, per_image.csv, metrics.json and gallery.html into `out_dir`;
    returns their paths."""
    paths = {
        "markdown": out_dir / "metrics.md",
        "latex": out_dir / "metrics.tex",
        "csv": out_dir / "metrics.csv",
        "per_image_csv": out_dir / "per_image.csv",
        "json": out_dir / "metrics.json",
        "html": out_dir / "gallery.html",
    }
    _write_utf8(paths["markdown"], markdown(results))
    _write_utf8(paths["latex"], latex_table(results))
    _write_utf8(paths["csv"], csv_text(results))
    _write_utf8(paths["per_image_csv"], per_image_csv_text(results))
    _write_utf8(paths["json"], json_text(results))
    _write_utf8(paths["html"], gallery_html(results, gallery_rows, f"FaceRevive evaluation: {results.dataset}"))
    return paths


def _write_utf8(path: Path, text: str) -> None:
    """Write `text` atomically as UTF-8; a file name that is not UTF-8 (its undecodable bytes held as
    surrogates) is written as \\udcXX escapes instead of failing the report."""
    atomic_write(path, lambda tmp: tmp.write_bytes(text.encode("utf-8", errors="backslashreplace")))
