"""gallery.html: the scores as an HTML table, then every shown test image with each method's output.

The scores table has one column per computed metric (mean ± standard deviation over the images; best in bold,
a GT row not ranked), and the provenance of every row is listed under it; the columns that were
not computed are named in one note, each reason once with its columns, instead of filling the table with "not
computed". In the image table every face links to its full-size PNG (click to enlarge) and carries its own
per-image scores. No script and no external file: the page opens from disk in any browser.
"""

from __future__ import annotations

import html
import math

from facerevive.evaluation.report import (
    MethodResult,
    Results,
    best_rows,
    format_value,
    image_notes,
    provenance_lines,
    spread,
    strip_not_computed,
)
from facerevive.metrics.scorers import Column

STYLE = """
body{font-family:sans-serif;margin:1.5em}
table{border-collapse:collapse;margin-bottom:1em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:center;vertical-align:top}
table.scores td:first-child,table.scores th:first-child{text-align:left}
td.error{color:#a00;text-align:left}
figure{margin:0}
img{width:192px;height:auto;display:block}
figcaption{font-size:80%;line-height:1.3;margin-top:3px}
.note{background:#fff3cd;border:1px solid #e0c060;padding:6px 10px;display:inline-block}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def computed_columns(results: Results) -> list[Column]:
    """The columns with numbers (those the protocol could compute)."""
    return [c for c in results.columns if c.key not in results.not_computed]


def not_computed_note(results: Results) -> str:
    """The one note that replaces the columns not computed, each reason once with its columns:
    'Not computed: LPIPS↓ — vgg16-397923af.pth missing (make weights); Deg.↓, IDD↓, IDS↑ — ...' ("" if none)."""
    labels = {c.key: c.label for c in results.columns}
    by_reason: dict[str, list[str]] = {}
    for key, reason in results.not_computed.items():
        by_reason.setdefault(strip_not_computed(reason), []).append(labels.get(key, key))
    if not by_reason:
        return ""
    return "Not computed: " + "; ".join(f"{', '.join(names)} — {reason}" for reason, names in by_reason.items())


def scores_table(results: Results) -> list[str]:
    """The HTML table of the computed columns; a method that could not run is one row with its reason."""
    columns = computed_columns(results)
    best = best_rows(results)
    out = [
        '<table class="scores">',
        "<thead><tr><th>Method</th>" + "".join(f"<th>{_e(c.label)}</th>" for c in columns) + "</tr></thead>",
        "<tbody>",
    ]
    for row, method in enumerate(results.methods):
        cells = [f"<th>{_e(method.label)}</th>"]
        if method.error:
            cells.append(f'<td class="error" colspan="{max(len(columns), 1)}">{_e(method.error)}</td>')
        else:
            for column in columns:
                text = _e(format_value(column.key, method.summary.get(column.key, math.nan)))
                bold = row in best.get(column.key, set())
                std = _e(spread(method, column.key))
                cells.append(f"<td><strong>{text}</strong>{std}</td>" if bold else f"<td>{text}{std}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return out


def report_notes(results: Results) -> list[str]:
    """The notes under the table: per-method notes, unscored and resized images, interruption."""
    notes = [f"{m.label}, {key}: {note}" for m in results.methods for key, note in m.notes.items() if note]
    notes += [line.removeprefix("- ") for m in results.methods for line in image_notes(m, len(results.images))]
    if results.interrupted:
        notes.append(f"INTERRUPTED: {results.interrupted}; the methods after the last row did not run")
    return notes


def image_scores(method: MethodResult | None, image: str, columns: list[Column]) -> list[str]:
    """`image`'s own scores under `method` ('PSNR↑ 24.31'), or why it has none."""
    if method is None:
        return []
    if image in method.bad_images:
        return [f"not scored: {method.bad_images[image]}"]
    values = method.per_image.get(image, {})
    return [f"{c.label} {format_value(c.key, values[c.key])}" for c in columns if c.key in values]


def _figure(src: str, header: str, scores: list[str]) -> str:
    caption = "<br>".join(_e(line) for line in scores)
    return (
        f'<figure><a href="{_e(src)}" target="_blank" title="full size">'
        f'<img src="{_e(src)}" alt="{_e(header)}" loading="lazy"></a>'
        + (f"<figcaption>{caption}</figcaption>" if caption else "")
        + "</figure>"
    )


def image_table(results: Results, rows: list[dict[str, str]]) -> list[str]:
    """One row per image: its name, then each column's face (`rows` map a header to a path relative to the
    page; "" when the method did not run) with that method's scores of the image."""
    headers = [h for h in rows[0] if h != "image"] if rows else []
    methods = {m.label: m for m in results.methods}
    columns = computed_columns(results)
    out = [
        '<table class="gallery">',
        "<thead><tr><th>image</th>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + "</tr></thead>",
        "<tbody>",
    ]
    for row in rows:
        cells = [f"<th>{_e(row['image'])}</th>"]
        for header in headers:
            src = row[header]
            method = methods.get(header)
            if not src:
                reason = method.error if method is not None and method.error else "not computed"
                cells.append(f'<td class="error">{_e(reason)}</td>')
            else:
                cells.append(f"<td>{_figure(src, header, image_scores(method, row['image'], columns))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return out


def gallery_html(results: Results, rows: list[dict[str, str]], title: str) -> str:
    """The whole page: title, the test set's note, the scores table and its notes, the image table."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head><body>",
        f"<h1>{_e(title)}</h1>",
    ]
    if results.note:
        out.append(f'<p class="note"><strong>Note:</strong> {_e(results.note)}</p>')
    out += ["<h2>Scores</h2>", *scores_table(results)]
    missing = not_computed_note(results)
    if missing:
        out.append(f'<p class="not-computed">{_e(missing)}</p>')
    notes = report_notes(results)
    if notes:
        out += ['<ul class="notes">', *[f"<li>{_e(note)}</li>" for note in notes], "</ul>"]
    out.append(f"<p>{_e(results.legend())}</p>")
    provenance = provenance_lines(results)
    if provenance:
        out += ["<h2>Provenance</h2>", '<ul class="provenance">', *[f"<li>{_e(line)}</li>" for line in provenance]]
        out.append("</ul>")
    shown = f"{len(rows)} of {len(results.images)} images" if len(rows) < len(results.images) else "every image"
    out += [
        f"<h2>Images ({_e(shown)}; click a face to enlarge it)</h2>",
        *image_table(results, rows),
        "</body></html>",
    ]
    return "\n".join(out) + "\n"
