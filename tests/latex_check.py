"""Compile generated tables with pdflatex and measure them (a test helper).

:func:`compile_tables` sets every given ``.tex`` in one document whose page is a venue's
(:data:`crossrec.report.latex.VENUES`: a two-column page with the venue's column and text
widths, or a one-column page), compiles it with ``pdflatex -halt-on-error``, and returns the log
with each table's Overfull boxes and its tabular's natural width (an ``\\sbox`` measured and
written to the log), so a test can check that each table fits its float and that crossrec's
width estimate is right.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from crossrec.report.latex import VENUES

SIZES = ("\\scriptsize", "\\footnotesize", "\\small")  # a size the table sets for itself
ESTIMATE = re.compile(r"the tabular about (\d+) pt")
OVERFULL = re.compile(r"Overfull \\hbox \(([\d.]+)pt too wide\)")


@dataclass
class Compiled:
    """pdflatex's result and, per table stem, the Overfull amounts (pt) in its float and its
    tabular's measured width (pt)."""

    proc: subprocess.CompletedProcess
    overfull: dict[str, list[float]]
    width: dict[str, float]


def pdflatex() -> str | None:
    """The pdflatex executable, or None where no TeX is installed."""
    return shutil.which("pdflatex")


def preamble(venue: str, columns: int) -> str:
    """An article with ``venue``'s widths in ``columns`` columns (graphicx for scaled tables)."""
    column, text = VENUES[venue]
    two = columns == 2
    return (
        f"\\documentclass[{'twocolumn' if two else 'onecolumn'}]{{article}}\n"
        "\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n\\usepackage{graphicx}\n"
        f"\\setlength{{\\textwidth}}{{{text}pt}}\n"
        + (f"\\setlength{{\\columnsep}}{{{text - 2 * column:.3f}pt}}\n" if two else "")
        + "\\setlength{\\oddsidemargin}{0pt}\n\\setlength{\\evensidemargin}{0pt}\n"
        "\\setlength{\\textheight}{680pt}\n\\newsavebox{\\measured}\n\\begin{document}\n"
    )


def _measured(text: str) -> str:
    """The table's tabular in its own size and ``\\tabcolsep``, as box contents."""
    head = text[: text.index("\\begin{tabular}")]
    size = next((c for c in SIZES if c in head), "")
    sep = re.search(r"\\setlength\{\\tabcolsep\}\{[\d.]+pt\}", head)
    body = text[text.index("\\begin{tabular}") : text.rindex("\\end{tabular}")]
    return size + (sep.group(0) if sep else "") + body + "\\end{tabular}"


def compile_tables(tables: list[Path], work: Path, venue: str, columns: int) -> Compiled:
    """Compile ``tables`` in one ``venue`` document of ``columns`` columns (module docstring)."""
    doc = preamble(venue, columns)
    for tex in tables:
        text = tex.read_text()
        doc += (
            f"\\typeout{{BEGIN={tex.stem}}}\n{text}\n\\clearpage\\typeout{{END={tex.stem}}}\n"
            f"\\sbox{{\\measured}}{{{_measured(text)}}}"
            f"\\typeout{{TABLEWIDTH={tex.stem}=\\the\\wd\\measured}}\n"
        )
    path = work / f"tables_{venue}_{columns}.tex"
    path.write_text(doc + "\\end{document}\n")
    proc = subprocess.run(
        [pdflatex(), "-interaction=nonstopmode", "-halt-on-error", path.name],
        cwd=work, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    log = (work / path.with_suffix(".log").name).read_text(errors="replace")
    overfull: dict[str, list[float]] = {}
    for stem, part in re.findall(r"BEGIN=(\S+)\n(.*?)END=\1", log, re.S):
        overfull[stem] = [float(x) for x in OVERFULL.findall(part)]
    width = {m[0]: float(m[1]) for m in re.findall(r"TABLEWIDTH=(\S+)=([\d.]+)pt", log)}
    return Compiled(proc, overfull, width)


def estimate(tex: Path) -> float:
    """crossrec's width estimate of a table, from its ``.tex``'s first-line comment (pt)."""
    match = ESTIMATE.search(tex.read_text().splitlines()[0])
    assert match, tex
    return float(match.group(1))
