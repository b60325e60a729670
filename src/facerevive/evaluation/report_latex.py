"""metrics.tex: the report's table for a paper, a LaTeX `table` with booktabs rules (\\usepackage{booktabs}).

The same rows, columns and bold best values as metrics.md; each cell is the mean with, for metrics scored per
image, "$\\pm$ standard deviation" over the images; "--" where there is no number. The GT row, if any, is set off
below a rule. Labels are escaped, so a method or data-set name cannot break the document.
"""

from __future__ import annotations

import math

from facerevive.evaluation.report import MethodResult, Results, best_rows, format_value

# LaTeX's special characters, and the symbols the column labels use, as text-mode LaTeX.
_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "∞": r"$\infty$",
    "±": r"$\pm$",
}


def latex_escape(text: str) -> str:
    """`text` with every LaTeX special character escaped."""
    return "".join(_ESCAPES.get(char, char) for char in str(text))


def _number(key: str, value: float) -> str:
    if math.isnan(value):
        return "--"
    if math.isinf(value):
        return r"$\infty$" if value > 0 else r"$-\infty$"
    return format_value(key, value)


def latex_cell(results: Results, method: MethodResult, key: str, bold: bool) -> str:
    """One cell: mean (bold when best) and, where there is one, $\\pm$ the standard deviation."""
    if key in results.not_computed or method.error:
        return "--"
    mean = _number(key, method.summary.get(key, math.nan))
    if bold and mean != "--":
        mean = rf"\textbf{{{mean}}}"
    std = method.std(key)
    return mean if math.isnan(std) else f"{mean} $\\pm$ {format_value(key, std)}"


def latex_table(results: Results) -> str:
    """The whole `table` environment, caption and label included."""
    best = best_rows(results)
    columns = results.columns
    header = " & ".join(["Method", *[latex_escape(c.label) for c in columns]])
    lines = [
        "% FaceRevive evaluation (metrics.tex); needs \\usepackage{booktabs}.",
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(results.dataset)}: mean $\pm$ standard deviation over "
        rf"{len(results.images)} images; best in bold.}}",
        rf"\label{{tab:{_label_key(results.dataset)}}}",
        rf"\begin{{tabular}}{{l{'c' * len(columns)}}}",
        r"\toprule",
        header + r" \\",
        r"\midrule",
    ]
    for row, method in enumerate(results.methods):
        if method.is_reference_row and row > 0:
            lines.append(r"\midrule")
        cells = [latex_cell(results, method, c.key, row in best.get(c.key, set())) for c in columns]
        lines.append(" & ".join([latex_escape(method.label), *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _label_key(name: str) -> str:
    """A \\label key from the data-set name: letters, digits and '-' only."""
    return "".join(char if char.isalnum() else "-" for char in name).strip("-").lower() or "results"
