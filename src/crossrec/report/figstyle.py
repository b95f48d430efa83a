"""How crossrec's figures look: the user's style, Type 42 fonts, a venue's widths, legends.

* :class:`FigureForm` — the ``figures:`` config section (``style``: a matplotlib style name or
  a ``.mplstyle`` file; ``width``: ``column``, ``page`` or ``auto`` — one panel a column, more
  the page; ``font_size``) and the page widths of ``tables.venue``
  (:data:`crossrec.report.latex.VENUES`).
* :func:`style` — inside ``plt.rc_context`` only, never at import: the user's style sheet
  (``figures.style``), then crossrec's font sizes where the user's own settings left
  matplotlib's defaults (``figures.font_size`` overrides them), and always TrueType (Type 42)
  fonts: venues' PDF checkers (IEEE PDF eXpress, some ACM checks) reject matplotlib's default
  Type 3.
* :func:`panels` — a constrained-layout grid of panels filling the chosen width (up to 2 per
  row in a column, 3 on a page); :func:`legend` — one legend for the figure, below the panels
  (outside the data).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

from crossrec.errors import DataError
from crossrec.io import atomic_path
from crossrec.report.latex import DEFAULT_VENUE, VENUES
from crossrec.report.published import plugin_name

OKABE_ITO = ("#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
FIXED = {"none": 0, "fettle": 1, "cross": 2, "bm3": 3}
SIZES = {"font.size": 8, "axes.titlesize": 8, "legend.fontsize": 7}
"""Font sizes for one-column panels, used where the user's matplotlibrc or style left
matplotlib's defaults."""
TRUETYPE = {"pdf.fonttype": 42, "ps.fonttype": 42}
WIDTHS = ("auto", "column", "page")
POINTS_PER_INCH = 72.27  # TeX points


@dataclass(frozen=True)
class FigureForm:
    """The ``figures:`` config section and the venue (module docstring)."""

    style: str | None = None
    width: str = "auto"
    font_size: float | None = None
    venue: str = DEFAULT_VENUE

    @classmethod
    def of(cls, figures: dict, tables: dict | None = None) -> FigureForm:
        """From plan.json's (or a config's) ``figures`` and ``tables`` sections; DataError
        naming the key whose value is unknown (a style neither matplotlib's nor a file)."""
        form = cls.of_config({"figures": figures, "tables": tables})
        problem = form.problem()
        if problem is not None:
            raise DataError(Path("plan.json"), problem)
        return form

    @classmethod
    def of_config(cls, config: dict) -> FigureForm:
        """From a study config's ``figures`` and ``tables`` sections, unchecked."""
        figures, tables = config.get("figures") or {}, config.get("tables") or {}
        return cls(figures.get("style"), figures.get("width", "auto"), figures.get("font_size"),
                   tables.get("venue", DEFAULT_VENUE))  # fmt: skip

    def problem(self) -> str | None:
        """``"figures.<key> <value>: <problem>"`` for the first value that cannot be used."""
        if self.width not in WIDTHS:
            return f"figures.width {self.width!r}: one of {', '.join(WIDTHS)}"
        if self.venue not in VENUES:
            return f"tables.venue {self.venue!r}: one of {', '.join(VENUES)}"
        size = self.font_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int | float)
                                 or not 4 <= size <= 24):  # fmt: skip
            return f"figures.font_size {size!r}: a number from 4 to 24 (pt)"
        if self.style is not None:
            known = plt.style.available
            if not isinstance(self.style, str) or not (
                self.style in known or Path(self.style).is_file()
            ):
                return (
                    f"figures.style {self.style!r}: neither a matplotlib style "
                    f"({', '.join(sorted(known)[:4])}, …) nor a .mplstyle file"
                )
        return None

    def wide(self, n_panels: int) -> bool:
        """Whether the figure spans the page: ``page``, or ``auto`` with several panels."""
        return self.width == "page" or (self.width == "auto" and n_panels > 1)

    def inches(self, n_panels: int) -> float:
        """The figure's width in inches: the venue's column, or its page (text) width."""
        column, text = VENUES[self.venue]
        return (text if self.wide(n_panels) else column) / POINTS_PER_INCH

    def columns(self, n_panels: int) -> int:
        """Panels per row: up to 3 on a page, 2 in a column."""
        column, text = VENUES[self.venue]
        return max(1, min(n_panels, 3 if self.wide(n_panels) and text > column else 2))


DEFAULT_FIGURES = FigureForm()


@contextlib.contextmanager
def style(form: FigureForm = DEFAULT_FIGURES) -> Iterator[None]:
    """crossrec's drawing settings, for the ``with`` block only (module docstring)."""
    sheets = [form.style] if form.style else []
    with plt.style.context(sheets):
        own = {
            key: value
            for key, value in SIZES.items()
            if matplotlib.rcParams[key] == matplotlib.rcParamsDefault[key]
        }
        if form.font_size is not None:
            own = {"font.size": form.font_size, "axes.titlesize": form.font_size,
                   "legend.fontsize": form.font_size * 7 / 8}  # fmt: skip
        with plt.rc_context({**own, **TRUETYPE}):
            yield


def colour(plugin: str, order: list[str]) -> str:
    """The plug-in's colour: fixed for none/fettle/cross/bm3, else by its position."""
    if plugin in FIXED:
        return OKABE_ITO[FIXED[plugin]]
    return OKABE_ITO[(len(FIXED) + order.index(plugin)) % len(OKABE_ITO)]


def label(plugin: str) -> str:
    """Legend text of a plug-in (``alone`` for ``none``)."""
    return "alone" if plugin == "none" else plugin_name(plugin)


def panels(
    n: int, form: FigureForm = DEFAULT_FIGURES, sharey: bool = False
) -> tuple[plt.Figure, list]:
    """A figure of ``n`` panels at the form's width (module docstring), its axes in order."""
    cols = form.columns(n)
    rows = (n + cols - 1) // cols
    width = form.inches(n)
    height = min(max(width / cols * 0.75, 1.6), 2.6)
    fig, axes = plt.subplots(rows, cols, figsize=(width, height * rows + 0.5), squeeze=False,
                             sharey=sharey, layout="constrained")  # fmt: skip
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def legend(fig: plt.Figure, axes: list) -> None:
    """One legend for every panel's labelled artists (each label once), below the panels."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(text, handle)
    if seen:
        ncols = max(1, min(len(seen), 3))
        fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncols=ncols,
                   frameon=False)  # fmt: skip


def empty(message: str) -> plt.Figure:
    """A one-line figure saying why there is nothing to draw."""
    fig, ax = plt.subplots(figsize=(VENUES[DEFAULT_VENUE][0] / POINTS_PER_INCH, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return fig


def save(fig: plt.Figure, stem: Path) -> None:
    """``<stem>.png`` (200 dpi) and ``<stem>.pdf``, each written atomically; the figure closed."""
    for suffix in (".png", ".pdf"):
        with atomic_path(stem.with_suffix(suffix)) as tmp:
            fig.savefig(tmp, format=suffix[1:], dpi=200)
    plt.close(fig)
