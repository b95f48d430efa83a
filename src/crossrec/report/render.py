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
    """GitHub Markdown: ``**best**``, ``<u>second</u>``, numbers right-aligned, ``note`` below."""
    marked = display.astype(str).copy()
    flags = marks(display, layout)
    marked = marked.mask(flags == "best", "**" + marked + "**")
    marked = marked.mask(flags == "second", "<u>" + marked + "</u>")
    align = ["right" if numeric else "left" for numeric in _numeric_columns(display)]
    if marked.empty:
        header = "| " + " | ".join(display.columns) + " |"
        rule = "|" + "|".join("---" for _ in display.columns) + "|"
        text = f"{header}\n{rule}\n"
    else:
        text = (
            marked.to_markdown(index=False, tablefmt="pipe", colalign=align, disable_numparse=True)
            + "\n"
        )
    return text + (f"\n{note}\n" if note else "")


def to_latex(display: pd.DataFrame, layout: Layout, note: str | None = None) -> str:
    """A booktabs ``table`` with caption and label (``Styler.to_latex``): LaTeX specials
    escaped, ``\\textbf`` best, ``\\underline`` second, ``r`` columns for numbers; ``note`` as a
    footnote-size line under the tabular; the table in ``layout.size``; with
    ``layout.stack_std``, ``0.3142 ± 0.0049`` as ``0.3142`` over a ``\\scriptsize`` ``±0.0049``
    (so the main table fits a two-column ``table*``). Every non-ASCII glyph goes through
    :data:`UNICODE_LATEX` (ValueError naming any other one)."""
    flags = marks(display, layout)
    styles = flags.replace({"best": "textbf:--rwrap;", "second": "underline:--rwrap;"})
    spec = "".join("r" if numeric else "l" for numeric in _numeric_columns(display))
    styler = (
        display.astype(str)
        .style.hide(axis="index")
        .format(escape="latex")
        .format_index(escape="latex", axis=1)
        .apply(lambda _: styles, axis=None)
    )
    tex = styler.to_latex(
        column_format=spec or "l",
        hrules=True,
        caption=_escape(layout.caption),
        label=layout.label,
        position="t",
        position_float="centering",
    )
    tex = tex.replace("\\centering\n", f"\\centering\n\\{layout.size}\n", 1)
    if layout.stack_std:
        tex = STD_CELL.sub(r"\\shortstack[r]{\1\3\\\\ \\scriptsize ±\2}", tex)
    if note:
        tex = tex.replace(
            "\\end{tabular}\n", "\\end{tabular}\n\\par\\footnotesize " + _escape(note) + "\n"
        )
    return latex_glyphs(tex)


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
