"""What the tables and the figures both read, computed once: the selected variant of each
group, its runs over the seeds, and the paired tests of each plug-in against its backbone alone
with their correction (:func:`analyse`); and the report's shared vocabulary (the significance
level, the seed-count text, the config's order)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from crossrec.errors import DataError
from crossrec.report.stats import adjust, check_correction, select, selected_runs, significance
from crossrec.report.summary import load_runs, read_plan

ALPHA = 0.05
"""Significance level of the † marks and the figures' stars (corrected p-values)."""
PAPERS_METRIC = "recall@20"
"""The papers' headline metric: a study's when its runs chose their epochs on it, or on
several metrics that all include it."""


def study_metric(runs: pd.DataFrame) -> str:
    """The metric a study is selected, tested and drawn on: its runs' validation metric
    (``train.valid_metric``, as a staged study's selection files use it) when they share one
    (``recall@20`` by default); :data:`PAPERS_METRIC` when they differ but all hold it (or
    their ``metrics.json`` predate the field). DataError naming ``plan.json`` otherwise."""
    chosen = set(runs["valid_metric"].dropna()) if "valid_metric" in runs else set()
    if len(chosen) == 1:
        return chosen.pop()
    if f"test_{PAPERS_METRIC}" in runs and runs[f"test_{PAPERS_METRIC}"].notna().all():
        return PAPERS_METRIC
    raise DataError(
        Path("plan.json"),
        f"the runs chose their epochs on {sorted(chosen)} and not all were evaluated at "
        f"{PAPERS_METRIC}: give every run one train.valid_metric",
    )


@dataclass(frozen=True)
class Analysis:
    """A study's runs as the report reads them.

    Attributes:
        runs: one row per run (crossrec.report.summary.load_runs).
        selection: one row per (dataset, backbone, plug-in): the selected variant.
        chosen: the selected variants' runs, in config order.
        pvalues: per plug-in group, the paired test over seeds against the backbone alone:
            ``p``, ``p_adj`` (``correction`` across the table), ``correction``.
        runs_root: the folder below which the run folders lie.
        correction: ``bh``, ``holm``, ``bonferroni`` or ``none``.
        tuning: every candidate of the searches behind the selected points
            (:func:`crossrec.report.tuning.tuning_rows`).
        warnings: a winner on its grid's edge, a winner within seed noise (one line each).
        data_root: the prepared datasets' folder (results/data): the split, for the activity
            breakdown (None: not given).
        knockout: each knock-out dataset's full dataset and kept modalities (the plan's
            ``knockout``; empty without a knock-out study).
        metric: what selects, is tested and is drawn (:func:`study_metric`), ``recall@20``.
    """

    runs: pd.DataFrame
    selection: pd.DataFrame
    chosen: pd.DataFrame
    pvalues: pd.DataFrame
    runs_root: Path
    correction: str
    tuning: pd.DataFrame
    warnings: list[str]
    data_root: Path | None = None
    knockout: Mapping[str, Any] = field(default_factory=dict)
    metric: str = PAPERS_METRIC


def in_config_order(frame: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``frame`` sorted (stably) by the order in which ``runs`` (the plan) lists backbones and
    plug-ins, i.e. the config's order."""
    columns = ["dataset", "backbone", "plugin"]
    ranks = {c: {v: i for i, v in enumerate(dict.fromkeys(runs[c]))} for c in columns}
    ordered = frame.sort_values(columns, key=lambda col: col.map(ranks[col.name]), kind="stable")
    return ordered.reset_index(drop=True)


def seeds_text(counts: Iterable[int]) -> str:
    """``n = 3 seeds``, or ``n = 1–3 seeds`` when the ``counts`` differ (``n = 0 seeds``
    for none)."""
    counts = [int(c) for c in counts] or [0]
    low, high = min(counts), max(counts)
    return f"n = {low if low == high else f'{low}–{high}'} seed{'' if high == 1 else 's'}"


def analyse(
    runs: pd.DataFrame,
    selection: pd.DataFrame,
    runs_root: str | Path,
    correction: str = "bh",
    plan: dict[str, Any] | None = None,
    selections: str | Path | None = None,
    data_root: str | Path | None = None,
    metric: str = PAPERS_METRIC,
) -> Analysis:
    """The selected runs, their corrected paired tests of ``metric`` and the searches behind
    them (:class:`Analysis`); ``plan`` and ``selections`` (a staged study's selection files)
    say where the searches' candidates come from (without them: the runs' grids)."""
    from crossrec.report.tuning import edge_warnings, noise_warnings, tuning_rows

    check_correction(correction, Path("plan.json"))
    root = Path(runs_root)
    chosen = in_config_order(selected_runs(runs, selection), runs)
    pvalues = significance(chosen, root, metric)
    pvalues["p_adj"] = adjust(pvalues["p"], correction)
    pvalues["correction"] = correction
    plan = plan or {"runs": [], "stages": None}
    found = None if selections is None else Path(selections)
    tuning = tuning_rows(plan, runs, selection, found, metric)
    warnings = edge_warnings(tuning, plan) + noise_warnings(tuning, runs)
    data = None if data_root is None else Path(data_root)
    knockout = dict(plan.get("knockout") or {})
    return Analysis(
        runs, selection, chosen, pvalues, root, correction, tuning, warnings, data, knockout,
        metric,
    )  # fmt: skip


def load_analysis(
    plan_path: str | Path,
    runs_root: str | Path,
    selections: str | Path | None = None,
    data_root: str | Path | None = None,
) -> tuple[dict[str, Any], Analysis]:
    """The plan (``plan.json`` or ``study.json``) and the :class:`Analysis` of its runs (the
    selection ``plan["selection"]`` asks for, on :func:`study_metric`; the correction of
    ``plan["tables"]``;
    ``selections``: a staged study's selection files)."""
    plan = read_plan(plan_path)
    stages = sorted({r["study"] for r in plan["runs"]} & {"tune", "align"})
    if stages:
        raise DataError(
            Path(plan_path),
            f"lists a staged study's {' and '.join(stages)} runs: the tables and figures read "
            "its replicate runs, results/study.json (written once every selection is made)",
        )
    tables = plan.get("tables") if isinstance(plan.get("tables"), dict) else {}
    correction = tables.get("correction", "bh")
    check_correction(correction, Path(plan_path))
    runs = load_runs(plan, runs_root)
    metric = study_metric(runs)
    selection = select(runs, metric, by=plan["selection"])
    return plan, analyse(
        runs, selection, runs_root, correction, plan, selections, data_root, metric
    )
