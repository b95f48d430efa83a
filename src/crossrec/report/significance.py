"""The ``significance`` table: each plug-in against its backbone alone over the test users —
paired t and Wilcoxon per seed and on the seed mean (:func:`crossrec.report.stats.user_tests`),
p corrected per (seed, test), and the paired effect size d_z with its 95 % interval
(:func:`crossrec.report.effects.standardized_effect`)."""

from __future__ import annotations

import pandas as pd

from crossrec.report.names import named
from crossrec.report.stats import CORRECTIONS, GROUP, adjust_within


def significance_table(tests: pd.DataFrame, correction: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(display, numeric) frames of the per-user tests (:func:`crossrec.report.stats.
    user_tests`), ``p_adj`` corrected across the comparisons of each (seed, test)."""
    numeric = tests.copy()
    numeric["p_adj"] = adjust_within(numeric, ["seed", "test"], correction)
    numeric["correction"] = correction
    display = named(numeric[[*GROUP, "seed", "test", "n", "statistic", "p"]])
    display["seed"] = display["seed"].astype(str)
    display["n"] = display["n"].astype(str)
    display["statistic"] = display["statistic"].map(_statistic)
    display["p"] = display["p"].map(_pvalue)
    display[f"p ({CORRECTIONS[correction]})"] = numeric["p_adj"].map(_pvalue)
    display["d_z [95% CI]"] = [
        interval_text(d, lo, hi, "{:+.3f}")
        for d, lo, hi in numeric[["dz", "dz_low", "dz_high"]].itertuples(index=False)
    ]
    return display, numeric


def interval_text(value: float, low: float, high: float, fmt: str) -> str:
    """``+0.120 [+0.050, +0.190]``; the value alone without an interval, ``–`` without one."""
    if value != value:
        return "–"
    if low != low or high != high:
        return fmt.format(value)
    return f"{fmt.format(value)} [{fmt.format(low)}, {fmt.format(high)}]"


def _statistic(value: float) -> str:
    """A test statistic cell (3 significant digits, whole numbers from 1,000; ``–`` when there
    is none)."""
    if value != value:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"  # Wilcoxon's W: a count


def _pvalue(p: float) -> str:
    """A p-value cell: ``0.0312``, ``3.1e-07``, ``–`` when there is none."""
    if p != p:
        return "–"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.4f}"
