"""Variant selection on validation, seed statistics and paired significance tests.

* :func:`select` — per (dataset, backbone, plug-in) of the main study, the grid variant with the
  best **mean validation** metric over seeds (ties: the first variant name in sorted order).
  ``by="mmrec_test"`` reproduces MMRec's choice by test metric, for comparison with published
  numbers only.
* :func:`significance` — each plug-in against its backbone's ``none`` run: a paired t-test over
  the shared seeds when there are ≥ 2, else a paired t-test over the test users' per-user
  metric of the single seed (scipy ``ttest_rel``).
* :func:`user_tests` — beside the seed test: each plug-in against its backbone over the test
  users, paired t (``ttest_rel``) and Wilcoxon signed-rank (``wilcoxon``), per seed and on the
  per-user metric averaged over the shared seeds, with the statistic and n.
* :func:`adjust` — the multiple-comparison correction across the tests of one table
  (``tables.correction``): ``bh`` (Benjamini–Hochberg false discovery rate, scipy's
  ``false_discovery_control``), ``holm`` (Holm's step-down), ``bonferroni`` (``min(1, m·p)``)
  or ``none``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from crossrec.errors import DataError
from crossrec.report.effects import standardized_effect
from crossrec.report.summary import per_user, same_users

GROUP = ["dataset", "backbone", "plugin"]
CORRECTIONS = {
    "bh": "Benjamini–Hochberg",
    "holm": "Holm",
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
    for dataset, backbone, plugin, base, other, seeds in comparisons(chosen):
        if seeds:
            where = f"{dataset}/{backbone}/{plugin} vs none"
            test, n, p = paired_runs(other, base, seeds, runs_root, metric, where)
            rows.append({"dataset": dataset, "backbone": backbone, "plugin": plugin}
                        | {"test": test, "n": n, "p": p})  # fmt: skip
    return pd.DataFrame(rows, columns=[*GROUP, "test", "n", "p"])


def paired_runs(
    other: pd.DataFrame,
    base: pd.DataFrame,
    seeds: list[int],
    runs_root: str | Path,
    metric: str,
    where: str,
) -> tuple[str, int, float]:
    """``(test, n, p)`` of ``other`` against ``base`` (seed-indexed run rows) on their shared
    ``seeds``: a paired t-test over the seeds' test ``metric`` with ≥ 2 seeds (``"seeds"``),
    else over the test users' per-user ``metric`` of the one seed (``"users"``; DataError
    naming ``where`` when the two runs list different users)."""
    column = f"test_{metric}"
    if len(seeds) >= 2:
        a, b = other.loc[seeds, column].to_numpy(), base.loc[seeds, column].to_numpy()
        return "seeds", len(seeds), paired_pvalue(a, b)
    x = per_user(runs_root, _run_row(other, seeds[0]), metric)
    y = per_user(runs_root, _run_row(base, seeds[0]), metric)
    same_users(x, y, f"{where}, seed {seeds[0]}")
    users = x.index.intersection(y.index)
    return "users", len(users), paired_pvalue(x[users].to_numpy(), y[users].to_numpy())


def comparisons(
    chosen: pd.DataFrame,
) -> Iterator[tuple[str, str, str, pd.DataFrame, pd.DataFrame, list[int]]]:
    """Each plug-in's runs against its backbone alone: ``(dataset, backbone, plugin, base,
    other, seeds)`` with ``base``/``other`` the seed-indexed rows of ``none``/the plug-in and
    their shared seeds (a backbone without a ``none`` run is skipped)."""
    for (dataset, backbone), sub in chosen.groupby(["dataset", "backbone"], sort=False):
        base = sub[sub["plugin"] == "none"].set_index("seed")
        if base.empty:
            continue
        for plugin, other in sub[sub["plugin"] != "none"].groupby("plugin", sort=False):
            other = other.set_index("seed")
            yield dataset, backbone, plugin, base, other, sorted(set(base.index) & set(other.index))


def _run_row(frame: pd.DataFrame, seed: int) -> dict:
    """The run of ``seed`` in a seed-indexed frame, as a dict with its seed."""
    return {**frame.loc[seed].to_dict(), "seed": seed}


def check_correction(name: object, where: Path) -> None:
    """DataError naming ``where`` unless ``name`` is one of :data:`CORRECTIONS`."""
    if name not in CORRECTIONS:
        raise DataError(where, f"tables.correction {name!r}: one of {', '.join(CORRECTIONS)}")


def adjust(p: pd.Series, method: str) -> pd.Series:
    """p-values corrected across the m non-missing tests of ``p`` (missing stay missing).

    ``bh``: ``scipy.stats.false_discovery_control(p, method="bh")``; ``holm``: :func:`holm`;
    ``bonferroni``:
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
    elif method == "holm":
        out[present] = holm(values[present].to_numpy())
    else:
        out[present] = np.minimum(1.0, values[present].to_numpy() * m)
    return out


def adjust_within(frame: pd.DataFrame, by: str | list[str], method: str) -> pd.Series:
    """``frame["p"]`` corrected with :func:`adjust` separately within each group of ``by``
    (the tests of one family), aligned with ``frame``."""
    out = pd.Series(float("nan"), index=frame.index)
    for _, rows in frame.groupby(by, sort=False):
        out[rows.index] = adjust(rows["p"], method).to_numpy()
    return out


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values of ``m`` tests: with ``p_(1) ≤ … ≤ p_(m)``,
    ``p̃_(i) = min(1, max_{j ≤ i} (m − j + 1) · p_(j))``, in the input order.

    Hand-written (eight lines) rather than statsmodels' ``multipletests``: scipy has no Holm,
    and statsmodels would add a 10 MB dependency (plus patsy) for this one formula; the test
    checks it against a worked example."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted = np.minimum(1.0, np.maximum.accumulate(scaled))
    out = np.empty(m)
    out[order] = adjusted
    return out


USER_TESTS = ("paired t", "Wilcoxon")


def paired_user_test(test: str, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(statistic, two-sided p) of one paired test over users; (nan, 1.0) when every
    difference is 0 (no evidence either way), (nan, nan) with fewer than 2 users."""
    if len(a) < 2:
        return float("nan"), float("nan")
    if np.allclose(a - b, 0):
        return float("nan"), 1.0
    result = stats.ttest_rel(a, b) if test == "paired t" else stats.wilcoxon(a, b)
    return float(result.statistic), float(result.pvalue)


def user_pairs(
    chosen: pd.DataFrame, runs_root: str | Path, metric: str = "recall@20"
) -> Iterator[tuple[str, str, str, list[int], dict[int, pd.Series], dict[int, pd.Series]]]:
    """Each plug-in of the selected runs against its backbone alone, per user: ``(dataset,
    backbone, plugin, shared seeds, plug-in's per-user metric by seed, backbone alone's by
    seed)``; each backbone's files read once."""
    alone: dict[tuple[str, str, int], pd.Series] = {}  # a backbone's runs, read once
    for dataset, backbone, plugin, base, other, seeds in comparisons(chosen):
        x = {s: per_user(runs_root, _run_row(other, s), metric) for s in seeds}
        for s in seeds:
            if (dataset, backbone, s) not in alone:
                alone[dataset, backbone, s] = per_user(runs_root, _run_row(base, s), metric)
        yield (
            dataset,
            backbone,
            plugin,
            list(seeds),
            x,
            {s: alone[dataset, backbone, s] for s in seeds},
        )


def seed_means(
    x: dict[int, pd.Series], y: dict[int, pd.Series], seeds: list[int]
) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """The users every seed of both sides lists, and each side's per-user metric averaged over
    the seeds: ``(users, x̄ [n_users], ȳ [n_users])``."""
    users = x[seeds[0]].index
    for s in seeds:
        users = users.intersection(x[s].index).intersection(y[s].index)
    mean_x = np.mean([x[s][users].to_numpy() for s in seeds], axis=0)
    mean_y = np.mean([y[s][users].to_numpy() for s in seeds], axis=0)
    return users, mean_x, mean_y


def user_tests(
    chosen: pd.DataFrame, runs_root: str | Path, metric: str = "recall@20"
) -> pd.DataFrame:
    """Each plug-in against its backbone alone over the test users, for the selected runs
    (``chosen``: one row per seed): per shared seed, and on each user's metric averaged over
    the shared seeds (``seed`` = ``mean``), a paired t-test and a Wilcoxon signed-rank test
    (scipy ``ttest_rel`` / ``wilcoxon``, two-sided) of the per-user ``metric``.

    Columns: dataset, backbone, plugin, seed (an int, or ``mean``), test (``paired t`` /
    ``Wilcoxon``), n (users: those with a per-user row in both runs, in every shared seed for
    ``mean``), statistic (t, or Wilcoxon's W), p, and the paired effect size ``dz`` with its 95 %
    interval ``dz_low``–``dz_high`` (:func:`crossrec.report.effects.standardized_effect`; the
    same on both tests' rows)."""
    rows = []
    for dataset, backbone, plugin, seeds, x, y in user_pairs(chosen, runs_root, metric):
        pairs = []
        for s in seeds:
            same_users(x[s], y[s], f"{dataset}/{backbone}/{plugin} vs none, seed {s}")
            users = x[s].index.intersection(y[s].index)
            pairs.append((s, x[s][users].to_numpy(), y[s][users].to_numpy()))
        if len(seeds) > 1:
            _, mean_x, mean_y = seed_means(x, y, seeds)
            pairs.append(("mean", mean_x, mean_y))
        for seed, a, b in pairs:
            dz, low, high = standardized_effect(a, b)
            for test in USER_TESTS:
                statistic, p = paired_user_test(test, a, b)
                rows.append(
                    {"dataset": dataset, "backbone": backbone, "plugin": plugin}
                    | {"seed": seed, "test": test, "n": len(a)}
                    | {"statistic": statistic, "p": p}
                    | {"dz": dz, "dz_low": low, "dz_high": high}
                )
    columns = [*GROUP, "seed", "test", "n", "statistic", "p", "dz", "dz_low", "dz_high"]
    return pd.DataFrame(rows, columns=columns)
