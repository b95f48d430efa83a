"""Compile the generated tables with pdflatex and measure them (a test helper).

Each ``.tex`` table is put in a two-column ``article`` whose text width is ACM sigconf's
(506 pt, what a ``table*`` spans) and compiled with ``pdflatex -halt-on-error``; its tabular
is also set in a box whose width is written to the log, so a test can check that it fits.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

SIZES = ("\\scriptsize", "\\footnotesize", "\\small")  # a size the table sets for itself
TEXTWIDTH_PT = 506.0  # ACM sigconf \textwidth: the width of a two-column table*
PREAMBLE = r"""\documentclass[twocolumn]{article}
\usepackage[T1]{fontenc}
\usepackage{booktabs}
\setlength{\textwidth}{506pt}
\setlength{\oddsidemargin}{0pt}
\setlength{\evensidemargin}{0pt}
\newsavebox{\measured}
\begin{document}
"""


def pdflatex() -> str | None:
    """The pdflatex executable, or None where no TeX is installed."""
    return shutil.which("pdflatex")


def compile_table(tex: Path, work: Path) -> tuple[subprocess.CompletedProcess, float]:
    """(pdflatex's result, the width of the table's body in pt) for one generated table."""
    text = tex.read_text()
    head = text[: text.index("\\begin{tabular}")]
    size = next((c for c in SIZES if c in head), "")
    body = size + text[text.index("\\begin{tabular}") : text.index("\\end{tabular}")]
    doc = work / f"{tex.stem}_doc.tex"
    doc.write_text(
        PREAMBLE
        + text.replace("\\begin{table}", "\\begin{table*}").replace("\\end{table}", "\\end{table*}")
        + "\n\\sbox{\\measured}{"
        + body
        + "\\end{tabular}}\\typeout{TABLEWIDTH=\\the\\wd\\measured}\n\\end{document}\n"
    )
    proc = subprocess.run(
        [pdflatex(), "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=work, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    match = re.search(r"TABLEWIDTH=([\d.]+)pt", proc.stdout)
    return proc, float(match.group(1)) if match else float("nan")
