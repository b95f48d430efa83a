"""The papers' tables from the runs (Markdown, CSV and LaTeX each).

* ``main`` — the seed's layout: per dataset, rows backbone, +PLUGIN, ΔImprov. for each plug-in;
  columns Recall/NDCG/Precision @K (K from ``tables.k``);
* ``table2`` — FETTLE's Table 2: R@10, R@20, N@10, N@20 for every backbone × {none, bm3,
  fettle, cross}, with average-Δ rows per backbone family (CF, multi-modal);
* ``ablation`` — the ablation study's presets with Δ against ``cross``;
* ``cost`` — seconds per epoch, epochs to best, epochs run and peak memory of every run group;
* ``selection`` — the chosen variant per group, its mean selection metric, and p-values (raw
  and corrected);
* ``paper_vs_ours`` — the papers' published numbers beside ours, for configured datasets that
  are the papers' (:mod:`crossrec.report.published`).

Cells are the mean over seeds, ``± std`` with several seeds; ``†`` on a Recall@20 cell when the
paired test of the plug-in against its backbone gives p < 0.05 for test Recall@20 after the
multiple-comparison correction ``tables.correction`` (default Benjamini–Hochberg) across the
table's tests. ΔImprov. is ``(plug-in − none) / none``. A missing value is shown as ``–``; the
Markdown file ends with a note that says what the marks mean.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from crossrec.errors import DataError
from crossrec.io import atomic_open
from crossrec.report import LATEX_OMITTED, render
from crossrec.report.analysis import ALPHA, Analysis, in_config_order
from crossrec.report.effects import improvement_interval
from crossrec.report.knockout import knockout
from crossrec.report.latex import DEFAULT_FORM, Form
from crossrec.report.layouts import layout_of
from crossrec.report.names import named
from crossrec.report.notes import cutoff_note, seed_counts, significance_note
from crossrec.report.published import backbone_name, paper_vs_ours, plugin_name
from crossrec.report.render import short
from crossrec.report.significance import significance_table
from crossrec.report.stats import (
    CORRECTIONS,
    GROUP,
    comparisons,
    mean_std,
    user_tests,
)
from crossrec.report.tuning import candidates_per_group, tuning_note, tuning_table

TABLE2_PLUGINS = ("none", "bm3", "fettle", "cross")
TABLE2_METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


def cell(mean: float, std: float, n: int, p: float | None = None) -> str:
    """``0.1234``, ``0.1234 ± 0.0010`` with several seeds, ``†`` when p < 0.05."""
    text = f"{mean:.4f}" if n < 2 else f"{mean:.4f} ± {std:.4f}"
    return text + ("†" if p is not None and p == p and p < ALPHA else "")


def delta(value: float, base: float) -> str:
    """Relative change in percent, signed."""
    return "n/a" if base == 0 else f"{100 * (value - base) / base:+.2f}%"


def _require(runs: pd.DataFrame, metrics: Sequence[str]) -> None:
    for m in metrics:
        if f"test_{m}" not in runs.columns:
            k = m.split("@")[1]
            trained = sorted({int(c.split("@")[1]) for c in runs.columns if c.startswith("test_")})
            raise DataError(
                Path("plan.json"),
                f"tables.k {k}: the runs were trained with cut-offs {trained} (their metrics.json "
                f"hold no test {m}); set tables.k among them, or add {k} to train.topk and retrain",
            )


def main_table(
    chosen: pd.DataFrame,
    pvalues: pd.DataFrame,
    ks: Sequence[int],
    plugins: Sequence[str],
    interval: bool = False,
    metric: str = "recall@20",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(display, numeric) frames of the seed's layout; † on the ``metric`` cells (the tested
    one). The numeric frame has, per plug-in row
    and metric, ``delta_<metric>`` (ΔImprov.) with its paired 95 % interval across seeds
    ``delta_<metric>_low`` / ``_high`` (:func:`crossrec.report.effects.improvement_interval`);
    with ``interval`` the ΔImprov. rows show it (``+0.73% [−1.20, +2.66]``)."""
    metrics = [f"{m}@{k}" for m in ("recall", "ndcg", "precision") for k in ks]
    _require(chosen, metrics)
    cols = [f"test_{m}" for m in metrics]
    stats = mean_std(chosen, cols, [*GROUP, "variant"])
    counts = chosen.groupby(GROUP, sort=False)["seed"].nunique()
    column = "p_adj" if "p_adj" in pvalues else "p"  # † follows the corrected p-value
    pmap = {tuple(r[c] for c in GROUP): r[column] for _, r in pvalues.iterrows()}
    raw = {tuple(r[c] for c in GROUP): r["p"] for _, r in pvalues.iterrows()}
    per_seed = chosen.groupby(GROUP, sort=False)
    display, numeric = [], []
    for (dataset, backbone), sub in stats.groupby(["dataset", "backbone"], sort=False):
        sub = sub.set_index("plugin")
        if "none" not in sub.index:
            raise DataError(Path(f"{dataset}/{backbone}/none"), "no `none` run to compare with")
        base = sub.loc["none"]
        order = ["none", *[p for p in plugins if p != "none" and p in sub.index]]
        for plugin in order:
            row = sub.loc[plugin]
            n = int(counts[(dataset, backbone, plugin)])
            p = pmap.get((dataset, backbone, plugin))
            label = backbone_name(backbone) if plugin == "none" else plugin_name(plugin)
            display.append(
                {"dataset": dataset, "model": label}
                | {
                    short(m): cell(
                        row[f"test_{m}"], row[f"test_{m}_std"], n, p if m == metric else None
                    )
                    for m in metrics
                }
            )
            numeric.append(
                {"dataset": dataset, "backbone": backbone, "plugin": plugin}
                | {"variant": row["variant"], "n_seeds": n}
                | {"p": raw.get((dataset, backbone, plugin)), "p_adj": p}
                | {m: row[f"test_{m}"] for m in metrics}
                | {f"{m}_std": row[f"test_{m}_std"] for m in metrics}
            )
            if plugin != "none":
                runs = per_seed.get_group((dataset, backbone, plugin)).set_index("seed")
                alone = per_seed.get_group((dataset, backbone, "none")).set_index("seed")
                seeds = sorted(set(runs.index) & set(alone.index))
                deltas = {
                    m: improvement_interval(
                        runs.loc[seeds, f"test_{m}"].to_numpy(),
                        alone.loc[seeds, f"test_{m}"].to_numpy(),
                    )
                    for m in metrics
                }
                numeric[-1] |= {
                    f"delta_{m}{end}": value
                    for m in metrics
                    for end, value in zip(("", "_low", "_high"), deltas[m], strict=True)
                }
                display.append(
                    {"dataset": dataset, "model": "ΔImprov."}
                    | {
                        short(m): delta(row[f"test_{m}"], base[f"test_{m}"])
                        + (_interval_percent(*deltas[m][1:]) if interval else "")
                        for m in metrics
                    }
                )
    return pd.DataFrame(display), pd.DataFrame(numeric)


def _interval_percent(low: float, high: float) -> str:
    """`` [−1.20, +2.66]`` (percent), empty without an interval."""
    if low != low or high != high:
        return ""
    return f" [{100 * low:+.2f}, {100 * high:+.2f}]"


def table2_metrics(chosen: pd.DataFrame, ks: Sequence[int]) -> tuple[str, ...]:
    """FETTLE's Table 2 columns (:data:`TABLE2_METRICS`) where the runs were evaluated at 10
    and 20, else Recall and NDCG at ``tables.k``."""
    if all(f"test_{m}" in chosen for m in TABLE2_METRICS):
        return TABLE2_METRICS
    return tuple(f"{m}@{k}" for m in ("recall", "ndcg") for k in ks)


def table2(
    chosen: pd.DataFrame,
    families: dict[str, str],
    metrics: Sequence[str] = TABLE2_METRICS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(display, numeric) frames of FETTLE's Table 2 layout with per-family average-Δ rows,
    columns ``metrics`` (:func:`table2_metrics`)."""
    _require(chosen, metrics)
    cols = [f"test_{m}" for m in metrics]
    stats = mean_std(chosen, cols, GROUP)
    stats = stats[stats["plugin"].isin(TABLE2_PLUGINS)]
    display, numeric, deltas = [], [], []
    for (dataset, backbone), sub in stats.groupby(["dataset", "backbone"], sort=False):
        sub = sub.set_index("plugin")
        for plugin in [p for p in TABLE2_PLUGINS if p in sub.index]:
            row = sub.loc[plugin]
            values = {short(m): f"{row[f'test_{m}']:.4f}" for m in metrics}
            display.append(
                {"dataset": dataset, "backbone": backbone_name(backbone)}
                | {"plug-in": plugin_name(plugin)}
                | values
            )
            numeric.append(
                {"dataset": dataset, "backbone": backbone, "plugin": plugin}
                | {m: row[f"test_{m}"] for m in metrics}
            )
            if plugin != "none" and "none" in sub.index:
                base = sub.loc["none"]
                deltas.append(
                    {"dataset": dataset, "family": families.get(backbone, "?"), "plugin": plugin}
                    | {
                        m: (row[f"test_{m}"] - base[f"test_{m}"]) / base[f"test_{m}"]
                        for m in metrics
                    }
                )
    if deltas:
        avg = pd.DataFrame(deltas).groupby(["dataset", "family", "plugin"], sort=False).mean()
        for (dataset, family, plugin), row in avg.iterrows():
            display.append(
                {"dataset": dataset, "backbone": f"avg Δ {family}", "plug-in": plugin_name(plugin)}
                | {short(m): f"{100 * row[m]:+.2f}%" for m in metrics}
            )
    return pd.DataFrame(display), pd.DataFrame(numeric)


def ablation_table(runs: pd.DataFrame, ks: Sequence[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(display, numeric) frames of the ablation study (Δ against the ``cross`` preset)."""
    abl = runs[runs["study"] == "ablation"]
    if abl.empty:
        empty = pd.DataFrame({"note": ["no ablation study in this config"]})
        return empty, empty
    metrics = [f"{m}@{k}" for m in ("recall", "ndcg") for k in ks]
    _require(abl, metrics)
    stats = mean_std(abl, [f"test_{m}" for m in metrics], GROUP)
    counts = abl.groupby(GROUP, sort=False)["seed"].nunique()
    display, numeric = [], []
    for (dataset, backbone), sub in stats.groupby(["dataset", "backbone"], sort=False):
        sub = sub.set_index("plugin")
        ref = sub.loc["cross"] if "cross" in sub.index else None
        for preset, row in sub.iterrows():
            n = int(counts[(dataset, backbone, preset)])
            shown = {short(m): cell(row[f"test_{m}"], row[f"test_{m}_std"], n) for m in metrics}
            if ref is not None:
                shown[f"Δ R@{ks[-1]} vs CROSS"] = delta(
                    row[f"test_recall@{ks[-1]}"], ref[f"test_recall@{ks[-1]}"]
                )
            display.append(
                {"dataset": dataset, "backbone": backbone_name(backbone)}
                | {"preset": plugin_name(preset), "n": str(n)}
                | shown
            )
            numeric.append(
                {"dataset": dataset, "backbone": backbone, "preset": preset, "n_seeds": n}
                | {m: row[f"test_{m}"] for m in metrics}
                | {f"{m}_std": row[f"test_{m}_std"] for m in metrics}
            )
    return pd.DataFrame(display), pd.DataFrame(numeric)


def cost_table(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(display, numeric) frames: per (study, dataset, backbone, plug-in, variant) the mean
    seconds per epoch, epochs to best, epochs run, and the largest peak memory."""
    by = ["study", *GROUP, "variant"]
    agg = (
        runs.groupby(by, sort=False)
        .agg(
            seeds=("seed", "nunique"),
            seconds_per_epoch=("seconds_per_epoch", "mean"),
            epochs_to_best=("best_epoch", "mean"),
            epochs_run=("epochs_run", "mean"),
            peak_memory_mb=("peak_memory_mb", "max"),
        )
        .reset_index()
    )
    display = named(agg).rename(columns={"seeds": "n"})
    display["seconds_per_epoch"] = display["seconds_per_epoch"].map("{:.2f}".format)
    display["epochs_to_best"] = display["epochs_to_best"].map("{:.1f}".format)
    display["epochs_run"] = display["epochs_run"].map("{:.1f}".format)
    display["peak_memory_mb"] = display["peak_memory_mb"].map("{:.0f}".format)
    return display, agg


def _number(value: object) -> object:
    """A float cell with fixed decimals (``0.3154``; small ones ``1.23e-05``); others as given."""
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:.2e}" if value != 0 and abs(value) < 1e-3 else f"{value:.4f}"
    return value


def _shown(display: pd.DataFrame) -> pd.DataFrame:
    """Missing cells (NaN, ``<NA>``, None) as ``–``, floats with fixed decimals."""
    shown = display.astype(object)
    shown = shown.where(shown.notna(), "–")
    return shown.map(_number)


def rendered(
    stem: Path,
    display: pd.DataFrame,
    numeric: pd.DataFrame,
    note: str | None = None,
    form: Form = DEFAULT_FORM,
    metric: str = "recall@20",
) -> dict[Path, str]:
    """``<stem>.md`` and ``<stem>.tex`` from the display frame rendered with the table's
    :data:`LAYOUTS` entry (missing cells ``–``; ``note`` under the table; the float and size
    for ``form``'s venue; the caption on the study's ``metric``), ``<stem>.csv`` from the
    numbers: path → text, nothing written yet.
    A table of :data:`crossrec.report.LATEX_OMITTED` gets no ``.tex``."""
    shown = _shown(display)
    layout = layout_of(stem.name, metric)
    files = {
        stem.with_suffix(".csv"): numeric.to_csv(index=False, float_format="%.6g"),
        stem.with_suffix(".md"): render.to_markdown(shown, layout, note),
    }
    if stem.name not in LATEX_OMITTED:
        files[stem.with_suffix(".tex")] = render.to_latex(
            shown, layout, note, form.venue, form.float
        )
    return files


def write_all(
    stem: Path,
    display: pd.DataFrame,
    numeric: pd.DataFrame,
    note: str | None = None,
) -> None:
    """:func:`rendered`, written (each file atomically)."""
    write_files(rendered(stem, display, numeric, note))


def write_files(files: dict[Path, str]) -> None:
    """Write each path's text atomically (after every table has been rendered)."""
    for path, text in files.items():
        with atomic_open(path) as fh:
            fh.write(text)


def build_tables(
    analysis: Analysis,
    ks: Sequence[int],
    plugins: Sequence[str],
    families: dict[str, str],
    out_dir: str | Path,
    claim: Callable[[Path], object] | None = None,
    names: Sequence[str] | None = None,
    form: Form = DEFAULT_FORM,
) -> None:
    """Write the tables ``names`` (default: every one of :data:`crossrec.report.TABLES`; a
    study's own list: :meth:`crossrec.study.base.Planner.outputs`) into ``out_dir`` (``.md``,
    ``.csv``, ``.tex``) from ``analysis`` (its p-values corrected across the tests of a table).
    Every table is built before any file is written, so a bad input leaves the folder as it
    was; ``claim`` (default: create the folder) makes the folder ready just before the writes."""
    out, runs, chosen, pvalues = Path(out_dir), analysis.runs, analysis.chosen, analysis.pvalues
    correction = analysis.correction
    metric = analysis.metric
    table = functools.partial(rendered, form=form, metric=metric)
    same_seeds(chosen)
    sel = in_config_order(analysis.selection.merge(pvalues, on=GROUP, how="left"), runs)
    sel["n"] = sel["n"].astype("Int64")
    compared = candidates_per_group(analysis.tuning)  # a staged study's: its stage's
    sel["candidates"] = [compared.get(tuple(k), c) for k, c in
                         zip(sel[GROUP].itertuples(index=False), sel["candidates"], strict=True)]  # fmt: skip
    runs_display = runs[[c for c in runs.columns if not c.startswith("valid_")]]
    note = significance_note(pvalues, correction, seed_counts(chosen), metric)
    warned = "".join(f" Warning: {w}." for w in analysis.warnings)
    interval_note = (
        " [ ]: 95 % interval of ΔImprov., paired t across seeds (backbone mean held fixed)."
        if form.interval
        else ""
    )
    files = table(out / "runs", named(runs_display), runs)
    files |= table(
        out / "selection",
        named(sel),
        sel,
        note
        + " – : the backbone alone (plugin none) is the baseline of the tests, not tested."
        + warned,
    )
    tuning_display, tuning_numeric = tuning_table(analysis.tuning)
    files |= table(out / "tuning", named(tuning_display), tuning_numeric, tuning_note(analysis))
    files |= table(out / "activity", *activity(analysis))
    files |= table(
        out / "knockout",
        *knockout(runs, analysis.knockout, analysis.runs_root, correction, metric),
    )
    cutoffs = cutoff_note(ks, ("Recall", "NDCG", "Precision"))
    files |= table(
        out / "main",
        *main_table(chosen, pvalues, ks, plugins, form.interval, metric),
        cutoffs + note + interval_note,
    )
    files |= table(out / "table2", *table2(chosen, families, table2_metrics(chosen, ks)))
    files |= table(out / "ablation", *ablation_table(runs, ks), cutoff_note(ks, ("Recall", "NDCG")))
    files |= table(out / "cost", *cost_table(runs))
    files |= table(out / "paper_vs_ours", *paper_vs_ours(chosen))
    tests = user_tests(chosen, analysis.runs_root, metric)
    files |= table(out / "significance", *significance_table(tests, correction))
    # nothing is written, not even the folder, until every table is built
    if names is not None:
        files = {path: text for path, text in files.items() if Path(path).stem in names}
    claim(out) if claim is not None else out.mkdir(parents=True, exist_ok=True)
    write_files(files)


def activity(analysis: Analysis) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The main comparison by user-activity quantile (crossrec.report.activity) and its note."""
    from crossrec.report.activity import COLUMNS, activity_rows, activity_table

    if analysis.data_root is None:
        empty = pd.DataFrame(columns=COLUMNS)
        return (
            *activity_table(empty, analysis.metric),
            "No prepared data folder given (crossrec tables --data).",
        )
    rows = activity_rows(analysis.chosen, analysis.runs_root, analysis.data_root,
                         analysis.correction, metric=analysis.metric)  # fmt: skip
    note = (
        f"Test users split into activity quartiles by train interactions; per quartile the "
        f"users' test {short(analysis.metric)} averaged over {seed_counts(analysis.chosen)}, ΔImprov. = (plug-in − "
        f"none) / none, two-sided Wilcoxon signed-rank test over the quartile's users, "
        f"{CORRECTIONS[analysis.correction]} across the {len(rows)} tests (p_adj)."
    )
    return *activity_table(rows, analysis.metric), note


def same_seeds(chosen: pd.DataFrame) -> None:
    """DataError unless every plug-in of a (dataset, backbone) has exactly the seeds of its
    backbone alone: a mean over other seeds would compare unlike with unlike."""
    for dataset, backbone, plugin, base, other, _ in comparisons(chosen):
        have, alone = sorted(set(other.index)), sorted(set(base.index))
        if have != alone:
            raise DataError(
                Path(f"{dataset}/{backbone}/{plugin}"),
                f"seeds {have} differ from the backbone alone's {alone}: the tables compare "
                "runs over the same seeds (give both the same seeds)",
            )
