"""Which LaTeX float a table goes in, at which size: venue widths and a width estimate.

A venue (``tables.venue``) fixes two widths: a column's (``table``) and the text's (``table*``
in a two-column paper). ``tables.float`` is ``table``, ``table*`` or ``auto`` (default): the
narrowest float the table fits. The table's width is estimated from Computer Modern's glyph
advances (matplotlib ships ``cmr10.ttf``; T1's EC fonts have the same metrics), widened by the
design size's factor (:data:`DESIGN`), at the table's font size (a 10 pt document: ``\\small`` 9 pt, ``\\footnotesize`` 8 pt, ``\\scriptsize`` 7 pt),
plus ``2·\\tabcolsep`` per column:

    width = Σ_columns max_cells w(cell) + 2 · tabcolsep · n_columns

with a bold cell's digits ``cmbx``'s 0.575 em against ``cmr``'s 0.5 em (× 1.15) and the few
non-ASCII glyphs the tables use at their math widths. :func:`fit` tries, in order, the layout's
size in the chosen float, then smaller sizes down to ``\\scriptsize``, then ``\\tabcolsep`` 3 pt;
a table wider than that is scaled to the float's width (``\\resizebox``, package graphicx) and
its ``.tex`` says so. A 3 % margin covers the estimate's error (a test compares it with
pdflatex's measured width).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from crossrec.errors import DataError

VENUES = {
    "acm": (241.14, 506.295),  # acmart sigconf: \columnwidth, \textwidth (pt)
    "ieee": (252.0, 516.0),  # IEEEtran conference
    "article": (345.0, 345.0),  # one-column 10 pt article: a column is the text
}
"""``tables.venue`` → (column width, text width) in pt."""
DEFAULT_VENUE = "acm"  # the papers' venue (SIGIR, ACM sigconf)
FLOATS = ("auto", "table", "table*")
SIZES = (("small", 9.0), ("footnotesize", 8.0), ("scriptsize", 7.0))
TABCOLSEP = 6.0  # LaTeX's default \tabcolsep (pt)
TIGHT_TABCOLSEP = 3.0
MARGIN = 1.03  # the estimate's error bound (measured against pdflatex by a test)
DESIGN = {9.0: 1.028, 8.0: 1.0625, 7.0: 1.138}
"""Computer Modern's smaller design sizes are wider per em (the digit of cmr9 is 0.514 em,
cmr8 0.531, cmr7 0.569, against cmr10's 0.5): the factor over cmr10 at each size."""
BOLD = 1.15  # cmbx10 digits (0.575 em) over cmr10's (0.5 em)
GLYPH_EM = {  # the non-ASCII glyphs of the tables, as pdflatex sets them (render.UNICODE_LATEX)
    "±": 0.778,
    "Δ": 0.833,
    "†": 0.311,  # a superscript \dagger (0.444 em at 70 %)
    "–": 0.5,
    "—": 1.0,
    "−": 0.778,
    "→": 1.0,
    "×": 0.778,
    "·": 0.278,
    "≤": 0.778,
    "≥": 0.778,
    "≈": 0.778,
    "α": 0.64,
    "β": 0.566,
    "γ": 0.518,
    "λ": 0.583,
    "τ": 0.438,
    "…": 1.0,
    "★": 0.5,
    "’": 0.278,
    "‘": 0.278,
    "“": 0.5,
    "”": 0.5,
}
FALLBACK_EM = 0.6  # a glyph neither ASCII nor listed (none is rendered: render.latex_glyphs)


@dataclass(frozen=True)
class Fit:
    """How a table is set: its float environment, font size, ``\\tabcolsep`` (pt), whether it
    is scaled to the float's width, and its estimated natural width (pt)."""

    env: str
    size: str
    tabcolsep: float
    scaled: bool
    width: float


@functools.cache
def _advances() -> dict[str, float]:
    """Printable ASCII → advance in em from matplotlib's ``cmr10.ttf`` (TeX's cmr10)."""
    import matplotlib
    from matplotlib import ft2font

    font = ft2font.FT2Font(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "cmr10.ttf"))
    out = {}
    for code in range(32, 127):
        index = font.get_char_index(code)
        if index:
            glyph = font.load_glyph(index, ft2font.LoadFlags.NO_SCALE)
            out[chr(code)] = glyph.horiAdvance / font.units_per_EM
    out[" "] = 0.333  # an interword space (cmr10's \fontdimen2)
    return out


def text_width(text: str, size_pt: float, bold: bool = False) -> float:
    """Width in pt of ``text`` set in Computer Modern at ``size_pt`` (module docstring)."""
    advances = _advances()
    em = sum(advances.get(c) or GLYPH_EM.get(c, FALLBACK_EM) for c in text)
    return em * size_pt * DESIGN.get(size_pt, 1.0) * (BOLD if bold else 1.0)


def fit(
    width_at: Callable[[float, float], float],
    venue: str = DEFAULT_VENUE,
    float_choice: str = "auto",
    size: str = "small",
) -> Fit:
    """The first setting that fits (module docstring): ``width_at(size_pt, tabcolsep)`` is the
    table's estimated width; ``size`` the layout's preferred size; ``float_choice`` one of
    :data:`FLOATS`; ``venue`` one of :data:`VENUES`."""
    column, text = VENUES[venue]
    envs = {"auto": ("table", "table*"), "table": ("table",), "table*": ("table*",)}[float_choice]
    if column == text:  # one column: table* is a table
        envs = ("table",)
    names = [name for name, _ in SIZES]
    sizes = SIZES[names.index(size) :] if size in names else SIZES
    tries: Sequence[tuple[str, str, float, float]] = [
        (env, name, pt, TABCOLSEP) for env in envs for name, pt in sizes[:1]
    ] + [(envs[-1], name, pt, TABCOLSEP) for name, pt in sizes[1:]]
    tries = [*tries, (envs[-1], *SIZES[-1], TIGHT_TABCOLSEP)]
    for env, name, pt, sep in tries:
        width = width_at(pt, sep)
        if width * MARGIN <= width_of(env, venue):
            return Fit(env, name, sep, False, width)
    env, name, pt, sep = tries[-1]
    return Fit(env, name, sep, True, width_at(pt, sep))


def width_of(env: str, venue: str) -> float:
    """The float's width in pt at ``venue``."""
    column, text = VENUES[venue]
    return column if env == "table" else text


@dataclass(frozen=True)
class Form:
    """``tables.venue``, ``tables.float`` and ``tables.interval`` of a study (module
    docstring)."""

    venue: str = DEFAULT_VENUE
    float: str = "auto"
    interval: bool = False  # the main table's ΔImprov. rows with their 95 % interval

    @classmethod
    def of(cls, tables: dict) -> Form:
        """From a config's or plan.json's ``tables`` section (defaults where it has none);
        DataError naming the key when a value is not one of the known ones."""
        venue, float_choice = tables.get("venue", DEFAULT_VENUE), tables.get("float", "auto")
        for key, value, known in (("venue", venue, VENUES), ("float", float_choice, FLOATS)):
            if value not in known:
                raise DataError(
                    Path("plan.json"), f"tables.{key} {value!r}: one of {', '.join(known)}"
                )
        interval = tables.get("interval", False)
        if not isinstance(interval, bool):
            raise DataError(Path("plan.json"), f"tables.interval {interval!r}: true or false")
        return cls(venue, float_choice, interval)


DEFAULT_FORM = Form()
