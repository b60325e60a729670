"""Write the report of an evaluation: Markdown table (the GFPGAN paper's Table 1 layout), CSV, JSON, HTML gallery.

`Results` holds everything: for each method its summary per column, notes, and per-image values; for each column
either a number per method or the "not computed: ..." line that replaces it.
"""

from __future__ import annotations

import csv
import html
import json
import math
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

from facerevive.metrics.scorers import Column
from facerevive.utils.files import atomic_write

NOT_APPLICABLE = "n/a"


@dataclass
class MethodResult:
    """One row: the method's number per column, notes, per-image values, or the error that replaced them."""

    label: str
    slug: str
    is_reference_row: bool = False
    summary: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    per_image: dict[str, dict[str, float]] = field(default_factory=dict)
    error: str = ""
    # Images not scored (name -> reason naming the file) and resizes to the GT size ("WxH -> WxH" -> count).
    bad_images: dict[str, str] = field(default_factory=dict)
    resized: dict[str, int] = field(default_factory=dict)


@dataclass
class Results:
    """Everything a report shows: the columns, the rows, the columns not computed and the protocol used."""

    dataset: str
    columns: list[Column]
    methods: list[MethodResult]
    not_computed: dict[str, str] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    images: list[str] = field(default_factory=list)
    interrupted: str = ""  # why the evaluation stopped before its last method (the report keeps the rows done)


def best_rows(results: Results) -> dict[str, set[int]]:
    """Index of the best method per column (ties all bold); the GT row and failed rows never compete."""
    best: dict[str, set[int]] = {}
    for column in results.columns:
        scored = [
            (i, m.summary[column.key])
            for i, m in enumerate(results.methods)
            if not m.is_reference_row and not m.error and not math.isnan(m.summary.get(column.key, math.nan))
        ]
        if len(scored) < 2:
            continue
        target = (max if column.higher_is_better else min)(v for _, v in scored)
        best[column.key] = {i for i, v in scored if v == target}
    return best


def format_value(key: str, value: float) -> str:
    if math.isnan(value):
        return NOT_APPLICABLE
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if key.startswith(("psnr", "fid", "deg", "lmd")):
        return f"{value:.2f}"
    if key.startswith("niqe"):
        return f"{value:.3f}"
    return f"{value:.4f}"


def cell(results: Results, row: int, column: Column) -> str:
    method = results.methods[row]
    if column.key in results.not_computed:
        return "not computed"
    if method.error:
        return "not computed"
    return format_value(column.key, method.summary.get(column.key, math.nan))


def markdown(results: Results) -> str:
    best = best_rows(results)
    lines = [
        f"# {results.dataset}",
        "",
        "| Method | " + " | ".join(c.label for c in results.columns) + " |",
        "|---|" + "---|" * len(results.columns),
    ]
    for i, method in enumerate(results.methods):
        cells = []
        for column in results.columns:
            text = cell(results, i, column)
            cells.append(f"**{text}**" if i in best.get(column.key, set()) else text)
        lines.append(f"| {method.label} | " + " | ".join(cells) + " |")
    notes = [f"- {label}: {msg}" for label, msg in _column_notes(results)]
    notes += [f"- {m.label}: {m.error}" for m in results.methods if m.error]
    notes += [f"- {m.label}, {key}: {note}" for m in results.methods for key, note in m.notes.items() if note]
    notes += [line for m in results.methods for line in _image_notes(m, len(results.images))]
    if results.interrupted:
        notes.append(f"- INTERRUPTED: {results.interrupted}; the methods after the last row did not run")
    if notes:
        lines += ["", *notes]
    lines += ["", f"{len(results.images)} images. Best in bold (the GT row is not ranked); ↑ higher is better."]
    return "\n".join(lines) + "\n"


SHOWN_BAD_IMAGES = 5  # listed in metrics.md; metrics.json lists them all


def _image_notes(method: MethodResult, total: int) -> list[str]:
    """The report lines of a method's unscored and resized images."""
    lines = []
    if method.bad_images:
        shown = [f"{name} ({reason})" for name, reason in list(method.bad_images.items())[:SHOWN_BAD_IMAGES]]
        more = len(method.bad_images) - len(shown)
        lines.append(
            f"- {method.label}: {len(method.bad_images)} of {total} images not scored (the scores are over the "
            f"other {total - len(method.bad_images)}): " + "; ".join(shown) + (f"; and {more} more" if more else "")
        )
    for change, count in method.resized.items():
        lines.append(f"- {method.label}: {count} of {total} images resized to the GT size ({change})")
    return lines


def _column_notes(results: Results) -> list[tuple[str, str]]:
    labels = {c.key: c.label for c in results.columns}
    return [(labels.get(key, key), message) for key, message in results.not_computed.items()]


def csv_text(results: Results) -> str:
    rows = [["method", *[c.key for c in results.columns]]]
    for method in results.methods:
        row = [method.label]
        for column in results.columns:
            if column.key in results.not_computed:
                row.append(results.not_computed[column.key])
            elif method.error:
                row.append(method.error)
            else:
                row.append(repr(method.summary.get(column.key, math.nan)))
        rows.append(row)
    buffer = StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _json_number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def json_text(results: Results) -> str:
    payload = {
        "dataset": results.dataset,
        "protocol": results.protocol,
        "columns": [{"key": c.key, "label": c.label, "higher_is_better": c.higher_is_better} for c in results.columns],
        "not_computed": results.not_computed,
        "images": results.images,
        "interrupted": results.interrupted or None,
        "methods": [
            {
                "label": m.label,
                "slug": m.slug,
                "error": m.error or None,
                "summary": {k: _json_number(v) for k, v in m.summary.items()},
                "notes": {k: v for k, v in m.notes.items() if v},
                "bad_images": m.bad_images,
                "resized": m.resized,
                "per_image": {
                    name: {k: _json_number(v) for k, v in values.items()} for name, values in m.per_image.items()
                },
            }
            for m in results.methods
        ],
    }
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def gallery_html(results: Results, rows: list[dict[str, str]], title: str) -> str:
    """LQ | each method | GT, one face per row; `rows` map a column header to an image path relative to the page."""
    headers = list(rows[0]) if rows else []
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif} td,th{padding:4px;text-align:center} img{width:192px}</style>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr>",
    ]
    for row in rows:
        cells = []
        for header in headers:
            src = row[header]
            if header == "image":
                cells.append(f"<td>{html.escape(src)}</td>")
            elif src:
                cells.append(f'<td><img src="{html.escape(src)}" alt="{html.escape(header)}"></td>')
            else:
                cells.append("<td>not computed</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</table>", "<h2>Scores</h2>", "<pre>", html.escape(markdown(results)), "</pre>", "</body></html>"]
    return "\n".join(out) + "\n"


def write_report(results: Results, out_dir: Path, gallery_rows: list[dict[str, str]]) -> dict[str, Path]:
    """Write metrics.md, metrics.csv, metrics.json and gallery.html into `out_dir`; returns their paths."""
    paths = {
        "markdown": out_dir / "metrics.md",
        "csv": out_dir / "metrics.csv",
        "json": out_dir / "metrics.json",
        "html": out_dir / "gallery.html",
    }
    _write_utf8(paths["markdown"], markdown(results))
    _write_utf8(paths["csv"], csv_text(results))
    _write_utf8(paths["json"], json_text(results))
    _write_utf8(paths["html"], gallery_html(results, gallery_rows, f"FaceRevive evaluation: {results.dataset}"))
    return paths


def _write_utf8(path: Path, text: str) -> None:
    """Write `text` atomically as UTF-8; a file name that is not UTF-8 (its undecodable bytes held as
    surrogates) is written as \\udcXX escapes instead of failing the report."""
    atomic_write(path, lambda tmp: tmp.write_bytes(text.encode("utf-8", errors="backslashreplace")))
