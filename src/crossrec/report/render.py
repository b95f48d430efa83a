"""Rendering of the report tables: Markdown through ``DataFrame.to_markdown`` (tabulate) and
LaTeX through pandas' ``Styler.to_latex`` — booktabs rules, caption and label, escaping, numeric
columns right-aligned, the best value of a column in bold and the second underlined.

A table arrives as its display frame (strings, as the tables module formats them) and a
:class:`Layout`: the caption, the label, the columns whose best entries are marked, and the
column that groups the comparison (a dataset's rows are compared among themselves). Rows whose
``skip`` column starts with one of ``skip_prefixes`` (ΔImprov., average-Δ rows) are not
candidates. The value of a cell is its leading number (``0.3142 ± 0.0049†`` → 0.3142).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from crossrec.report import latex

NUMBER = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)")
# Every non-ASCII glyph the tables and their captions use, as pdflatex (T1 or OT1) sets it; a
# table with any other non-ASCII character is refused (to_latex), so none reaches pdflatex.
UNICODE_LATEX = {
    "±": r"$\pm$",
    "Δ": r"$\Delta$",
    "†": r"$^{\dagger}$",
    "–": "--",
    "—": "---",
    "−": "$-$",
    "→": r"$\to$",
    "×": r"$\times$",
    "·": r"$\cdot$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "≈": r"$\approx$",
    "α": r"$\alpha$",
    "β": r"$\beta$",
    "γ": r"$\gamma$",
    "λ": r"$\lambda$",
    "τ": r"$\tau$",
    "…": r"\ldots{}",
    "★": r"$\star$",
    "’": "'",
    "‘": "`",
    "“": "``",
    "”": "''",
}
# Text-mode < and > are other glyphs in pdflatex's default OT1 encoding (¡, ¿): math mode
MATH_RELATIONS = {"<": "$<$", ">": "$>$"}
COUNTS = ("n", "seed")  # numeric columns that are counts or labels: never marked best
STD_CELL = re.compile(r"(?<![\w.])(\d+\.\d+) ± (\d+\.\d+)(†?)")
SHORT = {"recall": "R", "ndcg": "N", "precision": "P", "map": "MAP"}
HEADERS = {
    "n_seeds": "seeds",
    "p_adj": "p (adj.)",
    "score": "valid score",
    "seconds_per_epoch": "s/epoch",
    "epochs_to_best": "best epoch",
    "best_epoch": "best epoch",
    "epochs_run": "epochs",
    "peak_memory_mb": "peak MB",
    "swept_param": "swept",
    "swept_value": "value",
    "train_interactions": "train interactions",
}
"""Display headers of the csv column names a table shows (:func:`header`)."""
# Marks and stacked cells travel through Styler's escaping as control characters
BOLD_OPEN, BOLD_CLOSE, UNDER_OPEN, UNDER_CLOSE = "\x01", "\x02", "\x03", "\x04"
STACK_OPEN, STACK_BREAK, STACK_CLOSE = "\x05", "\x06", "\x07"
SENTINELS = {
    BOLD_OPEN: "\\textbf{",
    BOLD_CLOSE: "}",
    UNDER_OPEN: "\\underline{",
    UNDER_CLOSE: "}",
    STACK_OPEN: "\\begin{tabular}[t]{@{}r@{}}",
    STACK_BREAK: "\\\\ \\scriptsize ",
    STACK_CLOSE: "\\end{tabular}",
}


@dataclass(frozen=True)
class Layout:
    """How one table is rendered (module docstring)."""

    caption: str
    label: str
    emphasis: tuple[str, ...] = ()
    mark_numeric: bool = False  # mark every numeric column (besides ``emphasis``)
    group: str = "dataset"
    skip: str | None = None
    skip_prefixes: tuple[str, ...] = ()
    size: str = "small"  # LaTeX font size of the table (``small``, ``footnotesize``, …)
    stack_std: bool = False  # ``mean ± std`` cells as the mean over a \scriptsize ±std line


def leading_number(text: object) -> float | None:
    """The number a display cell starts with, or None (``–``, ``n/a``, text)."""
    match = NUMBER.match(str(text))
    return float(match.group(1)) if match else None


def marks(display: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """``best`` / ``second`` / ``""`` per cell: within each ``layout.group`` and each column of
    ``layout.emphasis``, the largest leading number is ``best`` (ties all best) and the next
    distinct one ``second``."""
    out = pd.DataFrame("", index=display.index, columns=display.columns)
    columns = list(layout.emphasis)
    if layout.mark_numeric:
        numeric = dict(zip(display.columns, _numeric_columns(display), strict=True))
        columns += [
            c
            for c, is_number in numeric.items()
            if is_number and c not in columns and c not in COUNTS
        ]
    if not columns or display.empty:
        return out
    candidate = pd.Series(True, index=display.index)
    if layout.skip is not None:
        text = display[layout.skip].astype(str)
        for prefix in layout.skip_prefixes:
            candidate &= ~text.str.startswith(prefix)
    groups = display[layout.group] if layout.group in display else pd.Series(0, display.index)
    for column in columns:
        values = display[column].map(leading_number)
        for _, rows in display[candidate].groupby(groups[candidate], sort=False):
            present = values[rows.index].dropna()
            ranked = sorted(set(present), reverse=True)
            if len(ranked) >= 1:
                out.loc[present.index[present == ranked[0]], column] = "best"
            if len(ranked) >= 2:
                out.loc[present.index[present == ranked[1]], column] = "second"
    return out


def _numeric_columns(display: pd.DataFrame) -> list[bool]:
    """Columns whose every non-missing cell starts with a number (right-aligned)."""
    out = []
    for column in display.columns:
        cells = [c for c in display[column].astype(str) if c not in ("–", "")]
        out.append(bool(cells) and all(leading_number(c) is not None for c in cells))
    return out


def to_markdown(display: pd.DataFrame, layout: Layout, note: str | None = None) -> str:
    """GitHub Markdown: ``**best**``, ``<u>second</u>`` on a cell's leading number (the mean,
    not its ± std), display headers (:func:`header`), numbers right-aligned, ``note`` below."""
    marked = display.astype(str).copy()
    flags = marks(display, layout)
    for wrap, flag in ((("**", "**"), "best"), (("<u>", "</u>"), "second")):
        marked = marked.mask(flags == flag, marked.map(lambda c, w=wrap: _wrap_number(c, *w)))
    align = ["right" if numeric else "left" for numeric in _numeric_columns(display)]
    marked.columns = [header(str(c)) for c in display.columns]
    if marked.empty:
        header_row = "| " + " | ".join(marked.columns) + " |"
        rule = "|" + "|".join("---" for _ in display.columns) + "|"
        text = f"{header_row}\n{rule}\n"
    else:
        text = (
            marked.to_markdown(index=False, tablefmt="pipe", colalign=align, disable_numparse=True)
            + "\n"
        )
    return text + (f"\n{note}\n" if note else "")


def short(metric: str) -> str:
    """``recall@20`` → ``R@20``."""
    name, k = metric.split("@", 1)
    return f"{SHORT.get(name, name)}@{k}"


LONG = {"recall": "Recall", "ndcg": "NDCG", "precision": "Precision"}


def long_name(metric: str) -> str:
    """``recall@20`` → ``Recall@20``, ``ndcg@10`` → ``NDCG@10`` (captions and notes)."""
    name, k = metric.split("@", 1)
    return f"{LONG.get(name, name)}@{k}"


def header(column: str) -> str:
    """The display header of a column: :data:`HEADERS`, ``test_recall@20`` → ``test R@20``,
    other underscores as spaces (``n_seeds`` never reaches a reader)."""
    if column in HEADERS:
        return HEADERS[column]
    if " " in column:  # already a display name (``p (Holm)``, ``d_z [95% CI]``)
        return column
    for prefix in ("test_", "valid_"):
        if column.startswith(prefix) and "@" in column:
            return f"{prefix[:-1]} {short(column[len(prefix) :])}"
    return column.replace("_", " ")


def _grouped(display: pd.DataFrame, layout: Layout) -> tuple[pd.DataFrame, list[int]]:
    """``display`` with the group column (when it is the first) named on the first row of each
    group only, and the row positions where a new group starts (a rule goes above them)."""
    column = display.columns[0] if len(display.columns) else None
    if column != layout.group or display.empty:
        return display, []
    values = display[column].astype(str).tolist()
    starts = [i for i in range(1, len(values)) if values[i] != values[i - 1]]
    shown = display.copy()
    shown[column] = [v if i == 0 or v != values[i - 1] else "" for i, v in enumerate(values)]
    return shown, starts


def _wrap_number(cell: str, before: str, after: str) -> str:
    """``cell`` with its leading number between ``before`` and ``after`` (unchanged without)."""
    number = NUMBER.match(cell)
    if number is None:
        return cell
    start, end = number.span(1)
    return f"{cell[:start]}{before}{cell[start:end]}{after}{cell[end:]}"


def _marked(cell: str, flag: str, stack: bool) -> tuple[str, str, str]:
    """(the cell with sentinels, its first line, its second line): the mark (bold/underline)
    on the leading number only; a stacked ``mean ± std†`` as ``mean†`` over ``±std``."""
    wrap = {"best": (BOLD_OPEN, BOLD_CLOSE), "second": (UNDER_OPEN, UNDER_CLOSE)}.get(flag)
    match = STD_CELL.fullmatch(cell.strip()) if stack else None
    if match is not None:
        mean, std, dagger = match.groups()
        top = f"{wrap[0]}{mean}{wrap[1]}" if wrap else mean
        return (
            f"{STACK_OPEN}{top}{dagger}{STACK_BREAK}±{std}{STACK_CLOSE}",
            mean + dagger,
            "±" + std,
        )
    if wrap:
        return _wrap_number(cell, *wrap), cell, ""
    return cell, cell, ""


def to_latex(
    display: pd.DataFrame,
    layout: Layout,
    note: str | None = None,
    venue: str = latex.DEFAULT_VENUE,
    float_choice: str = "auto",
) -> str:
    """A booktabs float with caption and label (``Styler.to_latex``): LaTeX specials escaped,
    display headers (:func:`header`), ``\\textbf`` best and ``\\underline`` second on the
    mean only, ``r`` columns for numbers, the group column (dataset) named once per group with
    a rule between groups, ``note`` as a footnote-size line under the tabular. With
    ``layout.stack_std``, ``0.3142 ± 0.0049`` is ``0.3142`` over a ``\\scriptsize`` ``±0.0049``
    in a top-aligned inner tabular (the row's other cells sit on the mean's line). The float,
    size and ``\\tabcolsep`` are :func:`crossrec.report.latex.fit`'s for ``venue`` and
    ``float_choice``. Every non-ASCII glyph goes through :data:`UNICODE_LATEX` (ValueError
    naming any other one).

    The group is named on its first row instead of ``\\multirow``: the multirow package is in
    TeX Live's latex-extra collection, which a base TeX install (and this project's CI) lacks,
    and a top-aligned ``\\multirow[t]`` sets the name on that same row."""
    flags = marks(display, layout)
    shown, starts = _grouped(display.astype(str), layout)
    cells = pd.DataFrame(index=shown.index, columns=shown.columns, dtype=object)
    lines: dict[str, list[tuple[str, str, bool]]] = {c: [] for c in shown.columns}
    for column in shown.columns:
        for i in shown.index:
            text, top, bottom = _marked(shown.at[i, column], flags.at[i, column], layout.stack_std)
            cells.at[i, column] = text
            lines[column].append((top, bottom, flags.at[i, column] == "best"))
    headers = [header(str(c)) for c in shown.columns]

    def width_at(size_pt: float, sep: float) -> float:
        total = 0.0
        for column, head in zip(shown.columns, headers, strict=True):
            widths = [latex.text_width(head, size_pt)]
            for top, bottom, bold in lines[column]:
                widths.append(latex.text_width(top, size_pt, bold))
                widths.append(latex.text_width(bottom, min(size_pt, 7.0)))
            total += max(widths) + 2 * sep
        return total

    form = latex.fit(width_at, venue, float_choice, layout.size)
    spec = "".join("r" if numeric else "l" for numeric in _numeric_columns(display))
    styler = (
        cells.set_axis(headers, axis=1)
        .style.hide(axis="index")
        .format(escape="latex")
        .format_index(escape="latex", axis=1)
    )
    tex = styler.to_latex(
        column_format=spec or "l",
        hrules=True,
        caption=_escape(layout.caption),
        label=layout.label,
        position="t",
        position_float="centering",
        environment=None if form.env == "table" else form.env,
    )
    head, rest = tex.split("\\midrule\n", 1)
    body, tail = rest.split("\\bottomrule\n", 1)
    rows = body.splitlines(keepends=True)
    for at in reversed(starts):
        rows.insert(at, "\\midrule\n")
    tex = head + "\\midrule\n" + "".join(rows) + "\\bottomrule\n" + tail
    setting = f"\\{form.size}\n"
    if form.tabcolsep != latex.TABCOLSEP:
        setting += f"\\setlength{{\\tabcolsep}}{{{form.tabcolsep:g}pt}}\n"
    tex = tex.replace("\\centering\n", "\\centering\n" + setting, 1)
    if note:  # after the outer tabular (the stacked cells' inner ones come in below)
        tex = tex.replace(
            "\\end{tabular}", "\\end{tabular}\n\\par\\footnotesize " + _escape(note), 1
        )
    if form.scaled:  # the tabular only: the note stays a paragraph at the float's width
        target = "\\columnwidth" if form.env == "table" else "\\textwidth"
        tex = tex.replace(
            "\\begin{tabular}", f"\\resizebox{{{target}}}{{!}}{{%\n\\begin{{tabular}}", 1
        )
        tex = tex.replace("\\end{tabular}\n", "\\end{tabular}}\n", 1)
    for sentinel, command in SENTINELS.items():
        tex = tex.replace(sentinel, command)
    width = latex.width_of(form.env, venue)
    comment = (
        f"% crossrec: {form.env} for tables.venue {venue} ({width:.0f} pt wide), the tabular "
        f"about {form.width:.0f} pt in \\{form.size}"
        + (", scaled to fit" if form.scaled else "")
        + "; needs \\usepackage{booktabs}"
        + ("" if not form.scaled else " and \\usepackage{graphicx}")
        + "\n"
    )
    return latex_glyphs(comment + tex)


def latex_glyphs(tex: str) -> str:
    """``tex`` with every non-ASCII glyph replaced through :data:`UNICODE_LATEX`; ValueError
    naming the first glyph that has no replacement."""
    for char, command in UNICODE_LATEX.items():
        tex = tex.replace(char, command)
    left = sorted({c for c in tex if ord(c) > 127})
    if left:
        raise ValueError(
            f"no LaTeX for {left[0]!r} (U+{ord(left[0]):04X}): add it to UNICODE_LATEX"
        )
    return tex


def _escape(text: str) -> str:
    """LaTeX specials of free text (captions, notes) escaped; ``<``/``>`` in math mode."""
    text = text.replace("\\", "\x00")
    for char, escaped in (
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
        ("$", r"\$"),
        ("{", r"\{"),
        ("}", r"\}"),
    ):
        text = text.replace(char, escaped)
    for char, math in MATH_RELATIONS.items():
        text = text.replace(char, math)
    return text.replace("\x00", r"\textbackslash{}")
