"""The main comparison by user activity: do the plug-ins help the sparse users, the active ones,
or all alike (Zhou et al., arXiv 2508.05377, find modalities help mainly sparse users)?

The test users of each dataset are split into activity quantiles by their number of train
interactions (``x_label`` 0 of the prepared ``.inter`` file; quartiles by default, ``pd.qcut``
with equal-count bins, merged where counts tie). Per quantile and plug-in: the users' test
metric averaged over the shared seeds, for the plug-in and the backbone alone, ΔImprov. =
(plug-in − none) / none, and a two-sided Wilcoxon signed-rank test over the quantile's users
(``scipy.stats.wilcoxon``), its p-values corrected across the table. Read from the files the
runs already write (``test_per_user.csv``) and the split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from crossrec.report.published import backbone_name, plugin_name
from crossrec.report.render import short
from crossrec.report.stats import adjust, paired_user_test, seed_means, user_pairs

QUANTILES = 4
COLUMNS = ["dataset", "backbone", "plugin", "activity", "train_interactions", "n",
           "none", "plugin_mean", "improvement", "p", "p_adj"]  # fmt: skip


def train_counts(data_root: Path, dataset: str) -> pd.Series:
    """Train interactions per user of a prepared dataset folder (user id → count)."""
    from crossrec.data.formats import find_inter_file, read_inter

    inter = read_inter(find_inter_file(data_root / dataset))
    return inter[inter["x_label"] == 0].groupby("userID").size()


def activity_groups(counts: pd.Series, q: int = QUANTILES) -> pd.Series:
    """Each user's activity quantile label (``Q1`` the least active), ``pd.qcut`` on the
    counts' ranks' values with duplicate edges dropped; labels carry the count range."""
    bins = pd.qcut(counts, q, duplicates="drop")
    names = {b: f"Q{i + 1}" for i, b in enumerate(bins.cat.categories)}
    return bins.map(names).astype(str)


def activity_rows(
    chosen: pd.DataFrame,
    runs_root: Path,
    data_root: Path,
    correction: str,
    q: int = QUANTILES,
    metric: str = "recall@20",
) -> pd.DataFrame:
    """One row per (dataset, backbone, plug-in, activity quantile) of the per-user ``metric``:
    :data:`COLUMNS`."""
    rows = []
    counts_of: dict[str, pd.Series] = {}
    for dataset, backbone, plugin, seeds, x, y in user_pairs(chosen, runs_root, metric):
        if dataset not in counts_of:
            counts_of[dataset] = train_counts(data_root, dataset)
        users, mean_x, mean_y = seed_means(x, y, seeds)
        counts = counts_of[dataset].reindex(users).fillna(0).astype(int)
        groups = activity_groups(counts, q)
        for name in sorted(groups.unique(), key=lambda g: int(g[1:])):
            mask = (groups == name).to_numpy()
            a, b = mean_x[mask], mean_y[mask]
            _, p = paired_user_test("Wilcoxon", a, b)
            low, high = int(counts[mask].min()), int(counts[mask].max())
            base = float(np.mean(b))
            rows.append(
                {
                    "dataset": dataset,
                    "backbone": backbone,
                    "plugin": plugin,
                    "activity": name,
                    "train_interactions": f"{low}–{high}",
                    "n": int(mask.sum()),
                    "none": base,
                    "plugin_mean": float(np.mean(a)),
                    "improvement": (float(np.mean(a)) - base) / base if base else float("nan"),
                    "p": p,
                }  # fmt: skip
            )
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["p_adj"] = adjust(out["p"], correction) if len(out) else out["p"]
    return out


def activity_table(
    rows: pd.DataFrame, metric: str = "recall@20"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Display (papers' names, 4 decimals, ΔImprov. in %; ``metric`` in the headers) and
    numeric frames."""
    display = rows.copy()
    display["backbone"] = display["backbone"].map(backbone_name)
    display["plugin"] = display["plugin"].map(plugin_name)
    for column in ("none", "plugin_mean"):
        display[column] = display[column].map(lambda v: f"{v:.4f}")
    display["improvement"] = display["improvement"].map(
        lambda v: "–" if pd.isna(v) else f"{100 * v:+.2f}%"
    )
    for column in ("p", "p_adj"):
        display[column] = display[column].map(lambda v: "–" if pd.isna(v) else f"{v:.3g}")
    display = display.rename(
        columns={
            "plugin": "plug-in",
            "none": f"none {short(metric)}",
            "plugin_mean": f"plug-in {short(metric)}",
            "improvement": "ΔImprov.",
            "train_interactions": "train interactions",
        }  # fmt: skip
    )
    return display, rows
