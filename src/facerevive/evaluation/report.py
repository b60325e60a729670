"""Write the report of an evaluation: Markdown table (the GFPGAN paper's Table 1 layout), CSV, JSON, HTML gallery,
and a LaTeX (booktabs) table for a paper.

Each cell is the method's score with, for metrics scored per image, the standard deviation over the images
(sample standard deviation, n - 1); set-level metrics such as FID have none. The report names what made every
row (weights file and SHA-256, iteration, random or not) and the software (FaceRevive version and git commit,
torch and CUDA, device): `Results.software` and `MethodResult.weights` (facerevive.weights.provenance).

`Results` holds everything: for each method its summary per column, notes, and per-image values; for each column
either a number per method or the "not computed: ..." line that replaces it. The CSV files hold numbers only
(an empty cell where there is none, read as NaN by spreadsheets and pandas); why a cell is empty goes in their
own `not_computed` column.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from io import StringIO
from typing import Any

from facerevive.metrics.scorers import Column

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
    # The weights record of a network method (facerevive.weights.provenance.WeightsRecord.as_dict); None otherwise.
    weights: dict[str, Any] | None = None

    def std(self, key: str) -> float:
        """The sample standard deviation of column `key` over the images scored (NaN with fewer than two, or for
        a set-level metric)."""
        values = [v[key] for v in self.per_image.values() if key in v and math.isfinite(v[key])]
        if len(values) < 2:
            return math.nan
        mean = sum(values) / len(values)
        return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


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
    note: str = ""  # what the reader must know about the test set (the dataset config's `note`)
    software: dict[str, str] = field(default_factory=dict)  # facerevive.weights.provenance.software_record

    @property
    def has_reference_row(self) -> bool:
        """Whether a GT row is shown (then the legend says it is not ranked)."""
        return any(m.is_reference_row for m in self.methods)

    def legend(self) -> str:
        """The line under the table: images, what the cells are, what bold means."""
        unranked = " (the GT row is not ranked)" if self.has_reference_row else ""
        return (
            f"{len(self.images)} images. Cells: mean ± standard deviation over the images (set-level metrics such as "
            f"FID: the value). Best in bold{unranked}; ↑ higher is better, ↓ lower is better."
        )


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


def spread(method: MethodResult, key: str) -> str:
    """' ± 1.23' (the standard deviation, formatted as the column), or "" where there is none."""
    std = method.std(key)
    return "" if math.isnan(std) or method.error else f" ± {format_value(key, std)}"


def provenance_lines(results: Results) -> list[str]:
    """What made the report: the software line, then one line per network method naming its weights."""
    lines = []
    if results.software:
        sw = results.software
        lines.append(
            f"software: FaceRevive {sw.get('version')} (git {sw.get('git_commit')}), torch {sw.get('torch')}, "
            f"CUDA {sw.get('cuda')}, device {sw.get('device')}"
        )
    for method in results.methods:
        if method.weights is None:
            continue
        w = method.weights
        if w.get("file") is None:
            lines.append(f"{method.label}: RANDOM WEIGHTS ({w.get('spec')}, no file)")
            continue
        iteration = w.get("iteration")
        progress = "iteration unknown" if iteration is None else f"iteration {iteration}"
        if iteration is not None and w.get("total_iter"):
            progress += f" of {w['total_iter']}"
        random = "RANDOM WEIGHTS" if w.get("random_weights") else "trained weights"
        source = f", exported from {w['source']}" if w.get("source") != w.get("spec") else ""
        lines.append(f"{method.label}: {w.get('file')} (sha256 {w.get('sha256')}), {progress}, {random}{source}")
    return lines


def markdown(results: Results) -> str:
    best = best_rows(results)
    lines = [f"# {results.dataset}", ""]
    if results.note:
        lines += [f"**Note:** {results.note}", ""]
    lines += [
        "| Method | " + " | ".join(c.label for c in results.columns) + " |",
        "|---|" + "---|" * len(results.columns),
    ]
    for i, method in enumerate(results.methods):
        cells = []
        for column in results.columns:
            text = cell(results, i, column)
            text = f"**{text}**" if i in best.get(column.key, set()) else text
            cells.append(text + (spread(method, column.key) if column.key not in results.not_computed else ""))
        lines.append(f"| {method.label} | " + " | ".join(cells) + " |")
    notes = [f"- {label}: {msg}" for label, msg in _column_notes(results)]
    notes += [f"- {m.label}: {m.error}" for m in results.methods if m.error]
    notes += [f"- {m.label}, {key}: {note}" for m in results.methods for key, note in m.notes.items() if note]
    notes += [line for m in results.methods for line in image_notes(m, len(results.images))]
    if results.interrupted:
        notes.append(f"- INTERRUPTED: {results.interrupted}; the methods after the last row did not run")
    if notes:
        lines += ["", *notes]
    lines += ["", results.legend()]
    provenance = provenance_lines(results)
    if provenance:
        lines += ["", "## Provenance", "", *[f"- {line}" for line in provenance]]
    return "\n".join(lines) + "\n"


SHOWN_BAD_IMAGES = 5  # listed in metrics.md; metrics.json lists them all


def image_notes(method: MethodResult, total: int) -> list[str]:
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


def strip_not_computed(reason: str) -> str:
    """A "not computed: <why>" line without its prefix (the CSV's and gallery's `not_computed` say it already)."""
    return reason.removeprefix("not computed: ")


def missing_reasons(results: Results, method: MethodResult) -> dict[str, str]:
    """Why each column of `method` has no number (column key -> reason); columns with a number are absent."""
    reasons = {}
    for column in results.columns:
        if column.key in results.not_computed:
            reasons[column.key] = strip_not_computed(results.not_computed[column.key])
        elif method.error:
            reasons[column.key] = strip_not_computed(method.error)
        elif math.isnan(method.summary.get(column.key, math.nan)):
            reasons[column.key] = method.notes.get(column.key) or "no value"
    return reasons


def grouped_reasons(reasons: dict[str, str]) -> str:
    """'lpips, lpips_alex: <why>; fid: <why>': keys that share a reason are named together."""
    by_reason: dict[str, list[str]] = {}
    for key, reason in reasons.items():
        by_reason.setdefault(reason, []).append(key)
    return "; ".join(f"{', '.join(keys)}: {reason}" for reason, keys in by_reason.items())


def _number(value: float | None) -> str:
    """A CSV cell: the float as Python writes it (inf, -inf included), empty for none or NaN."""
    return "" if value is None or math.isnan(value) else repr(value)


def _csv(rows: list[list[str]]) -> str:
    buffer = StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def csv_text(results: Results) -> str:
    """metrics.csv: one row per method, one number per column (empty where none), then `not_computed`."""
    rows = [["method", *[c.key for c in results.columns], "not_computed"]]
    for method in results.methods:
        reasons = missing_reasons(results, method)
        values = [_number(None if c.key in reasons else method.summary.get(c.key)) for c in results.columns]
        rows.append([method.label, *values, grouped_reasons(reasons)])
    return _csv(rows)


def per_image_keys(results: Results) -> list[str]:
    """The column keys that have per-image values (set-level metrics such as FID have none), in column order."""
    keys = {key for m in results.methods for values in m.per_image.values() for key in values}
    return [c.key for c in results.columns if c.key in keys]


def per_image_csv_text(results: Results) -> str:
    """per_image.csv: one row per image and method that ran, its per-image values, and why an image was not
    scored."""
    keys = per_image_keys(results)
    rows = [["image", "method", *keys, "not_scored"]]
    for method in results.methods:
        if method.error:
            continue
        for name in results.images:
            values = [_number(method.per_image.get(name, {}).get(key)) for key in keys]
            rows.append([name, method.label, *values, method.bad_images.get(name, "")])
    return _csv(rows)


def _json_number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def json_text(results: Results) -> str:
    payload = {
        "dataset": results.dataset,
        "note": results.note or None,
        "protocol": results.protocol,
        "columns": [{"key": c.key, "label": c.label, "higher_is_better": c.higher_is_better} for c in results.columns],
        "not_computed": results.not_computed,
        "images": results.images,
        "interrupted": results.interrupted or None,
        "software": results.software,
        "methods": [
            {
                "label": m.label,
                "slug": m.slug,
                "error": m.error or None,
                "weights": m.weights,
                "summary": {k: _json_number(v) for k, v in m.summary.items()},
                "std": {k: _json_number(m.std(k)) for k in m.summary if not math.isnan(m.std(k))},
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
