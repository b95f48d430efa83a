"""Variant selection on validation, seed statistics and paired significance tests.

* :func:`select` — per (dataset, backbone, plug-in) of the main study, the grid variant with the
  best **mean validation** metric over seeds (ties: the first variant name in sorted order).
  ``by="mmrec_test"`` reproduces MMRec's choice by test metric, for comparison with published
  numbers only.
* :func:`significance` — each plug-in against its backbone's ``none`` run: a paired t-test over
  the shared seeds when there are ≥ 2, else a paired t-test over the test users' per-user
  metric of the single seed (scipy ``ttest_rel``).
* :func:`adjust` — the multiple-comparison correction across the tests of one table
  (``tables.correction``): ``bh`` (Benjamini–Hochberg false discovery rate, scipy's
  ``false_discovery_control``), ``bonferroni`` (``min(1, m·p)``) or ``none``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from crossrec.report.summary import per_user

GROUP = ["dataset", "backbone", "plugin"]
CORRECTIONS = {
    "bh": "Benjamini–Hochberg",
    "bonferroni": "Bonferroni",
    "none": "no multiple-comparison correction",
}


def select(runs: pd.DataFrame, metric: str = "recall@20", by: str = "validation") -> pd.DataFrame:
    """The chosen variant per group: columns dataset, backbone, plugin, variant, n_seeds,
    ``score`` (the mean selection metric) and ``candidates`` (variants compared)."""
    main = runs[runs["study"] == "main"]
    column = f"{'valid' if by == 'validation' else 'test'}_{metric}"
    means = main.groupby([*GROUP, "variant"], sort=True)[column].agg(["mean", "count"])
    rows = []
    for group, sub in means.groupby(level=[0, 1, 2], sort=True):
        sub = sub.droplevel([0, 1, 2])
        best = sub["mean"].idxmax()  # first maximum in sorted variant order
        rows.append(
            {
                **dict(zip(GROUP, group, strict=True)),
                "variant": best,
                "n_seeds": int(sub.loc[best, "count"]),
                "score": float(sub.loc[best, "mean"]),
                "candidates": len(sub),
            }
        )
    return pd.DataFrame(rows)


def selected_runs(runs: pd.DataFrame, selection: pd.DataFrame) -> pd.DataFrame:
    """The main-study rows of the selected variants (one per seed)."""
    main = runs[runs["study"] == "main"]
    return main.merge(selection[[*GROUP, "variant"]], on=[*GROUP, "variant"])


def mean_std(runs: pd.DataFrame, columns: list[str], by: list[str]) -> pd.DataFrame:
    """Mean and sample std (0 for one seed) of ``columns`` per ``by`` group:
    ``<col>`` and ``<col>_std``."""
    grouped = runs.groupby(by, sort=False)[columns]
    mean = grouped.mean()
    std = grouped.std(ddof=1).fillna(0.0).add_suffix("_std")
    return pd.concat([mean, std], axis=1).reset_index()


def paired_pvalue(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired t-test p-value; NaN with < 2 pairs; 1.0 when all differences are 0."""
    if len(a) < 2:
        return float("nan")
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if np.allclose(diff, 0):
        return 1.0
    return float(stats.ttest_rel(a, b).pvalue)


def significance(
    chosen: pd.DataFrame, runs_root: str | Path, metric: str = "recall@20"
) -> pd.DataFrame:
    """p-value of each (dataset, backbone, plug-in ≠ none) against (dataset, backbone, none):
    columns dataset, backbone, plugin, test ("seeds" or "users"), n, p."""
    rows = []
    column = f"test_{metric}"
    for (dataset, backbone), sub in chosen.groupby(["dataset", "backbone"], sort=False):
        base = sub[sub["plugin"] == "none"].set_index("seed")
        if base.empty:
            continue
        for plugin, other in sub[sub["plugin"] != "none"].groupby("plugin", sort=False):
            other = other.set_index("seed")
            seeds = sorted(set(base.index) & set(other.index))
            if len(seeds) >= 2:
                a = other.loc[seeds, column].to_numpy()
                b = base.loc[seeds, column].to_numpy()
                rows.append(_row(dataset, backbone, plugin, "seeds", len(seeds), a, b))
            elif len(seeds) == 1:
                x = per_user(runs_root, _run_row(other, seeds[0]), metric)
                y = per_user(runs_root, _run_row(base, seeds[0]), metric)
                users = x.index.intersection(y.index)
                rows.append(
                    _row(dataset, backbone, plugin, "users", len(users), x[users], y[users])
                )
    return pd.DataFrame(rows, columns=[*GROUP, "test", "n", "p"])


def _run_row(frame: pd.DataFrame, seed: int) -> dict:
    """The run of ``seed`` in a seed-indexed frame, as a dict with its seed."""
    return {**frame.loc[seed].to_dict(), "seed": seed}


def _row(dataset: str, backbone: str, plugin: str, test: str, n: int, a, b) -> dict:  # noqa: ANN001
    return {
        "dataset": dataset,
        "backbone": backbone,
        "plugin": plugin,
        "test": test,
        "n": n,
        "p": paired_pvalue(np.asarray(a), np.asarray(b)),
    }


def adjust(p: pd.Series, method: str) -> pd.Series:
    """p-values corrected across the m non-missing tests of ``p`` (missing stay missing).

    ``bh``: ``scipy.stats.false_discovery_control(p, method="bh")``; ``bonferroni``:
    ``min(1, m·p)``; ``none``: unchanged.
    """
    if method not in CORRECTIONS:
        raise ValueError(f"correction must be one of {sorted(CORRECTIONS)}, got {method!r}")
    values = pd.to_numeric(p, errors="coerce").astype(float)
    present = values.notna()
    out = values.copy()
    m = int(present.sum())
    if m == 0 or method == "none":
        return out
    if method == "bh":
        out[present] = stats.false_discovery_control(values[present].to_numpy(), method="bh")
    else:
        out[present] = np.minimum(1.0, values[present].to_numpy() * m)
    return out
