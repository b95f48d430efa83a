"""The modality knock-out table: each (backbone, plug-in) point trained on all of a dataset's
modalities and on each kept subset (:mod:`crossrec.study.knockout`), in the papers' layout — a
row per model and modality set with the test metrics (mean ± SD over the seeds), the change
against all modalities, and the plug-in's ΔImprov. over its backbone alone on the same
modalities.

Metrics: the study's metric (:func:`crossrec.report.analysis.study_metric`, Recall@20 by
default) and NDCG at its cut-off. Tests, each two-sided and paired on the seeds both sides
share: a paired t-test over the seeds' test metric with ≥ 2 seeds, else over the test users'
per-user metric of the one seed (as the main table's
:func:`crossrec.report.stats.significance`); the p-values of both comparisons corrected
together across the table (``tables.correction``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from crossrec.report.published import backbone_name, plugin_name
from crossrec.report.render import short
from crossrec.report.stats import CORRECTIONS, adjust, paired_runs

ALL = "all"


def shown_metrics(metric: str) -> tuple[str, str]:
    """The table's metrics: ``metric`` (the tested one) and NDCG at its cut-off (Recall at it
    when ``metric`` is NDCG): ``recall@20`` → (``recall@20``, ``ndcg@20``)."""
    name, k = metric.split("@", 1)
    return metric, f"{'recall' if name == 'ndcg' else 'ndcg'}@{k}"


def columns(metric: str = "recall@20") -> list[str]:
    """The numeric frame's columns for a study on ``metric``."""
    means = [c for m in shown_metrics(metric) for c in (m, f"{m}_std")]
    return ["dataset", "backbone", "plugin", "variant", "modalities", "n", *means, "vs_all",
            "p_all", "improvement", "p_none", "p_all_adj", "p_none_adj"]  # fmt: skip


def _paired(a: pd.DataFrame, b: pd.DataFrame, runs_root: Path, where: str, metric: str) -> float:
    """p of ``a`` against ``b`` (seed-indexed run rows) on their shared seeds
    (:func:`crossrec.report.stats.paired_runs`, with one seed on the per-user files of the
    runs' own folders, ``folder``); NaN when they share none."""
    seeds = sorted(set(a.index) & set(b.index))
    if not seeds:
        return float("nan")
    a, b = (frame.assign(dataset=frame["folder"]) for frame in (a, b))
    return paired_runs(a, b, seeds, runs_root, metric, where)[2]


def knockout_rows(
    runs: pd.DataFrame,
    subsets: Mapping[str, Any],
    runs_root: Path,
    correction: str,
    metric: str = "recall@20",
) -> pd.DataFrame:
    """One row per (dataset, backbone, plug-in, modality set) of the knock-out runs
    (:func:`columns`; ``subsets``: plan.json's ``knockout``, derived dataset → its dataset and
    kept modalities). ``vs_all`` = (subset − all) / all of the mean test ``metric``,
    ``improvement`` = (plug-in − none) / none on the same modalities."""
    ko = runs[runs["study"] == "knockout"].copy()
    if ko.empty:
        return pd.DataFrame(columns=columns(metric))
    ko["modalities"] = [
        "+".join(subsets[d]["kept"]) if d in subsets else ALL for d in ko["dataset"]
    ]
    ko["folder"] = ko["dataset"]  # the run folder's dataset, for its per-user file
    ko["dataset"] = [subsets[d]["dataset"] if d in subsets else d for d in ko["dataset"]]
    rows = []
    keys = ["dataset", "backbone", "plugin", "variant", "modalities"]
    groups = {k: g.set_index("seed") for k, g in ko.groupby(keys, sort=False)}
    for (dataset, backbone, plugin, variant, mods), frame in groups.items():
        row: dict[str, Any] = dict(
            zip(keys, (dataset, backbone, plugin, variant, mods), strict=True)
        )
        row["n"] = len(frame)
        for m in shown_metrics(metric):
            values = frame[f"test_{m}"].astype(float)
            row[m] = float(values.mean())
            row[f"{m}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        full = groups.get((dataset, backbone, plugin, variant, ALL))
        row["vs_all"], row["p_all"] = float("nan"), float("nan")
        if full is not None and mods != ALL:
            base = float(full[f"test_{metric}"].mean())
            row["vs_all"] = (row[metric] - base) / base if base else float("nan")
            row["p_all"] = _paired(frame, full, runs_root, f"{dataset}/{mods} vs all", metric)
        alone = [g for k, g in groups.items()
                 if k[:2] == (dataset, backbone) and k[2] == "none" and k[4] == mods]  # fmt: skip
        row["improvement"], row["p_none"] = float("nan"), float("nan")
        if plugin != "none" and alone:
            base = float(alone[0][f"test_{metric}"].mean())
            row["improvement"] = (row[metric] - base) / base if base else float("nan")
            where = f"{dataset}/{plugin} vs none"
            row["p_none"] = _paired(frame, alone[0], runs_root, where, metric)
        rows.append(row)
    out = pd.DataFrame(rows)
    both = adjust(pd.concat([out["p_all"], out["p_none"]], ignore_index=True), correction)
    out["p_all_adj"] = both[: len(out)].to_numpy()
    out["p_none_adj"] = both[len(out) :].to_numpy()
    ranks = {c: {v: i for i, v in enumerate(dict.fromkeys(out[c]))} for c in keys[:4]}
    listed = ["+".join(v["kept"]) for v in subsets.values()]  # the plan's order
    ranks["modalities"] = {
        m: i for i, m in enumerate(dict.fromkeys([ALL, *listed, *out["modalities"]]))
    }
    order = ["dataset", "backbone", "modalities", "plugin", "variant"]
    out = out.sort_values(order, key=lambda col: col.map(ranks[col.name]), kind="stable")
    return out[columns(metric)].reset_index(drop=True)


def _pct(value: float) -> str:
    return "–" if pd.isna(value) else f"{100 * value:+.2f}%"


def _p(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.3g}"


def knockout_table(
    rows: pd.DataFrame, correction: str, metric: str = "recall@20"
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Display frame (papers' names, mean ± SD to 4 decimals, changes in %), numeric frame and
    the table's note."""
    display = pd.DataFrame(
        {
            "dataset": rows["dataset"],
            "model": [
                backbone_name(b) + ("" if p == "none" else f" {plugin_name(p)}")
                for b, p in zip(rows["backbone"], rows["plugin"], strict=True)
            ],
            "modalities": rows["modalities"],
            "n": rows["n"],
            **{
                short(m): [
                    f"{v:.4f} ± {s:.4f}" for v, s in zip(rows[m], rows[f"{m}_std"], strict=True)
                ]
                for m in shown_metrics(metric)
            },
            "Δ vs all": rows["vs_all"].map(_pct),
            "p_adj (vs all)": rows["p_all_adj"].map(_p),
            "ΔImprov.": rows["improvement"].map(_pct),
            "p_adj (vs none)": rows["p_none_adj"].map(_p),
        }
    )
    tests = int(rows["p_all"].notna().sum() + rows["p_none"].notna().sum())
    note = (
        "Each point trained on all of the dataset's modalities (all) and on each kept subset "
        "(the others' features and kNN graphs removed); test metrics at the best-validation "
        "epoch, mean ± SD over n seeds. Δ vs all = (subset − all) / all and ΔImprov. = "
        f"(plug-in − none) / none on the same modalities, of the mean {short(metric)}; "
        "two-sided paired "
        "t-tests over the shared seeds (one seed: over its test users), "
        f"{CORRECTIONS[correction]} across the table's {tests} tests (p_adj)."
    )
    if rows.empty:
        note = "No knock-out study in this config (knockout:)."
    return display, rows, note


def knockout(
    runs: pd.DataFrame,
    subsets: Mapping[str, Any],
    runs_root: Path,
    correction: str,
    metric: str = "recall@20",
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The knock-out table of a study on ``metric`` (:func:`knockout_rows`,
    :func:`knockout_table`)."""
    rows = knockout_rows(runs, subsets, runs_root, correction, metric)
    return knockout_table(rows, correction, metric)
