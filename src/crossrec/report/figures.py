"""The papers' figures from the runs (vector PDF with TrueType fonts and 200-dpi PNG).

Every figure aggregates seeds and compares like with like:

* ``curves`` — validation Recall@20 per epoch of the selected variants: per plug-in the mean over
  seeds (line) ± one sample std over seeds (band), drawn only while every seed still trains
  (a curve ends at its first seed's early stop, so no tail stands for fewer seeds; ``|`` marks
  that end where other seeds went on), each seed's reported (best-validation) epoch marked ▼;
  n in the legend; one panel per (dataset, backbone), y shared;
* ``improvement`` — ΔImprov. of test Recall@20 of each plug-in over its backbone alone, the main
  table's number ``(mean plug-in − mean none) / mean none``, with ± one std of the per-seed paired
  changes as error bars (n said in the legend) and ``*`` where the main table marks †; a plug-in a
  backbone was not run
  with is a hatched, labelled gap, never a 0 bar; a backbone without its ``none`` run is an error;
* ``sensitivity`` — test Recall@20 against each swept parameter, mean (line) ± std over the
  sweep's seeds (band), n in the legend, and the backbone alone averaged over **the same
  seeds** (dashed); the y axis spans at least ±10 % of the values' centre, so seed noise does
  not fill the panel;
* ``modality_scores`` — ILA's per-table modality scores per epoch, mean over seeds ± one std
  over seeds, like ``curves`` only while every seed trains.

Each figure function returns the figure and the numbers it plots (tests compare them with the
tables). Titles say what a panel is; what its marks mean is in the one legend below the panels
(outside the data). Colours: the Okabe–Ito colour-blind-safe palette. Width, style sheet and
font size: :mod:`crossrec.report.figstyle` (``figures:`` config), applied inside
:func:`build_figures` only: importing this module changes no matplotlib setting, and a user's
matplotlibrc or style sheet keeps its font sizes.
A study draws only the figures it has (:meth:`crossrec.study.base.Planner.outputs`); a figure
asked for without its data says so in its panel.

Recall@20 above stands for the study's metric
(:func:`crossrec.report.analysis.study_metric`) where its runs chose their epochs on another.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from crossrec.errors import DataError
from crossrec.report.analysis import ALPHA, Analysis, seeds_text
from crossrec.report.figstyle import (
    DEFAULT_FIGURES,
    FIXED,
    OKABE_ITO,
    FigureForm,
    colour,
    empty,
    label,
    legend,
    panels,
    save,
    style,
)
from crossrec.report.published import backbone_name, plugin_name
from crossrec.report.render import short
from crossrec.report.stats import GROUP
from crossrec.report.summary import run_folder
from crossrec.study.grid import format_value

METRIC = "recall@20"
"""The metric a figure draws unless told the study's
(:func:`crossrec.report.analysis.study_metric`)."""


def _history(runs_root: Path, row: dict, metric: str = METRIC) -> pd.DataFrame:
    """A run's history.csv; DataError naming it when it is missing, not a CSV, has no
    ``valid_<metric>`` column, or has a non-numeric or non-finite value where a figure reads
    one (epoch, valid_*, stat_*)."""
    path = run_folder(runs_root, row) / "history.csv"
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(path, "missing (rerun the training job)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(path, f"cannot read as CSV ({str(err).splitlines()[0][:200]})") from None
    read = [c for c in frame.columns if c == "epoch" or c.startswith(("valid_", "stat_"))]
    if "epoch" not in frame.columns or f"valid_{metric}" not in frame.columns:
        raise DataError(path, f"no 'epoch' and 'valid_{metric}' columns")
    if frame.empty:
        raise DataError(path, "no epochs (a header only: rerun the training job)")
    values = frame[read].apply(pd.to_numeric, errors="coerce")
    bad = values.isna() | ~np.isfinite(values.astype(float))
    if bad.any().any():
        column = bad.any().idxmax()
        line = int(bad[column].to_numpy().argmax()) + 2
        raise DataError(path, f"line {line}: {column} is not a finite number")
    return frame


def _overseeds_text(frames: list[pd.DataFrame], column: str) -> pd.DataFrame:
    """Per epoch while every frame (seed) has it: mean, sample std (0 with one seed) and count
    ``n`` (= the number of frames) of ``column``; the epochs after the first seed's last
    epoch are left out (a mean of fewer seeds would be another quantity)."""
    stacked = pd.concat([f[["epoch", column]] for f in frames], ignore_index=True)
    grouped = stacked.groupby("epoch")[column]
    out = pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=1), "n": grouped.size()})
    out = out.fillna({"std": 0.0}).reset_index()
    last = min(int(f["epoch"].max()) for f in frames)
    return out[out["epoch"] <= last].reset_index(drop=True)


def curves(
    chosen: pd.DataFrame, runs_root: Path, form: FigureForm = DEFAULT_FIGURES, metric: str = METRIC
) -> tuple[plt.Figure, pd.DataFrame]:
    """Validation ``metric`` per epoch, mean ± std over seeds (module docstring)."""
    groups = list(chosen.groupby(["dataset", "backbone"], sort=False))
    order = list(dict.fromkeys(chosen["plugin"]))
    fig, axes = panels(len(groups), form, sharey=True)
    rows = []
    for ax, ((dataset, backbone), sub) in zip(axes, groups, strict=True):
        counts = set()
        for plugin, runs in sub.groupby("plugin", sort=False):
            hists = [_history(runs_root, r.to_dict(), metric) for _, r in runs.iterrows()]
            agg = _overseeds_text(hists, f"valid_{metric}")
            counts.add(len(hists))
            c = colour(plugin, order)
            ax.plot(agg["epoch"], agg["mean"], color=c, lw=1.2, label=label(plugin))
            ax.fill_between(
                agg["epoch"], agg["mean"] - agg["std"], agg["mean"] + agg["std"], color=c,
                alpha=0.2, label=f"±1 SD over {seeds_text([len(hists)])}",
            )  # fmt: skip
            # each seed's reported epoch (best validation), on the mean curve where drawn
            best = runs["best_epoch"].to_numpy()
            at = agg.set_index("epoch")["mean"].reindex(best)
            ax.plot(best, at.to_numpy(), "v", color=c, ms=4, ls="none", label="reported epoch")
            if len(agg) and max(int(h["epoch"].max()) for h in hists) > agg["epoch"].iloc[-1]:
                ax.plot(agg["epoch"].iloc[-1], agg["mean"].iloc[-1], "|", color=c, ms=9,
                        label="ends: a seed stopped, the rest went on")  # fmt: skip
            rows += [
                {"dataset": dataset, "backbone": backbone, "plugin": plugin} | r
                for r in agg.to_dict("records")
            ]
        ax.set_title(f"{dataset} · {backbone_name(backbone)}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"valid {short(metric)}")
    legend(fig, axes)
    return fig, pd.DataFrame(rows)


def improvement_data(
    chosen: pd.DataFrame, pvalues: pd.DataFrame, metric: str = METRIC
) -> pd.DataFrame:
    """Per (dataset, backbone, plug-in ≠ none): ``delta`` = (mean − mean none) / mean none of
    test ``metric`` (the main table's ΔImprov.), ``err`` = std of the per-seed paired relative
    changes over ``n`` shared seeds, ``significant`` (the main table's †). DataError when a
    backbone lacks ``none``."""
    column = f"test_{metric}"
    padj = pvalues.set_index(GROUP)["p_adj" if "p_adj" in pvalues else "p"].to_dict()
    rows = []
    for (dataset, backbone), sub in chosen.groupby(["dataset", "backbone"], sort=False):
        base = sub[sub["plugin"] == "none"].set_index("seed")[column]
        if base.empty:
            raise DataError(Path(f"{dataset}/{backbone}/none"), "no `none` run to compare with")
        for plugin, other in sub[sub["plugin"] != "none"].groupby("plugin", sort=False):
            values = other.set_index("seed")[column]
            seeds = sorted(set(values.index) & set(base.index))
            paired = (values[seeds] - base[seeds]) / base[seeds]
            p = padj.get((dataset, backbone, plugin))
            rows.append(
                {
                    "dataset": dataset,
                    "backbone": backbone,
                    "plugin": plugin,
                    "delta": (values.mean() - base.mean()) / base.mean(),
                    "err": float(paired.std(ddof=1)) if len(seeds) > 1 else 0.0,
                    "n": len(seeds),
                    "significant": bool(p is not None and p == p and p < ALPHA),
                }
            )
    return pd.DataFrame(rows, columns=[*GROUP, "delta", "err", "n", "significant"])


def improvement(
    chosen: pd.DataFrame,
    pvalues: pd.DataFrame,
    form: FigureForm = DEFAULT_FIGURES,
    metric: str = METRIC,
) -> tuple[plt.Figure, pd.DataFrame]:
    """ΔImprov. bars of test ``metric`` with error bars and significance marks (module
    docstring)."""
    data = improvement_data(chosen, pvalues, metric)
    if data.empty:
        return empty("no plug-in runs to compare with their backbones"), data
    datasets = list(data["dataset"].unique())
    order = list(dict.fromkeys(data["plugin"]))
    fig, axes = panels(len(datasets), form)
    for ax, dataset in zip(axes, datasets, strict=True):
        sub = data[data["dataset"] == dataset]
        backbones = list(dict.fromkeys(sub["backbone"]))
        width = 0.8 / len(order)
        for i, plugin in enumerate(order):
            for x, backbone in enumerate(backbones):
                pos = x + (i - (len(order) - 1) / 2) * width
                row = sub[(sub["backbone"] == backbone) & (sub["plugin"] == plugin)]
                if row.empty:  # not run: a hatched, labelled gap
                    ax.bar(pos, 0.0, width=width, hatch="//", edgecolor="grey", fill=False)
                    ax.text(pos, 0, "n/a", ha="center", va="bottom", fontsize=6, color="grey")
                    continue
                r = row.iloc[0]
                ax.bar(
                    pos,
                    100 * r["delta"],
                    yerr=100 * r["err"],
                    width=width,
                    color=colour(plugin, order),
                    capsize=2,
                    label=label(plugin) if x == 0 else None,
                )
                if r["significant"]:
                    top = 100 * (r["delta"] + np.sign(r["delta"] or 1) * r["err"])
                    ax.text(pos, top, "*", ha="center", va="bottom" if top >= 0 else "top")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(len(backbones)), [backbone_name(b) for b in backbones])
        ax.set_ylabel(f"Δ test {short(metric)} vs alone (%)")
        ax.set_title(dataset)
        ax.plot([], [], " ", label=f"bars ±1 SD of the paired change, {seeds_text(set(sub['n']))}")
        if sub["significant"].any():
            ax.plot([], [], " ", label=f"* p < {ALPHA} (corrected, as the main table's †)")
    legend(fig, axes)
    return fig, data


def sensitivity_data(runs: pd.DataFrame, metric: str = METRIC) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(points, baselines): per swept (dataset, backbone, plug-in, parameter, value) the mean,
    std and seeds of test ``metric``; per sweep the backbone alone over the same seeds (no row
    when those seeds have no ``none`` run)."""
    column = f"test_{metric}"
    sens = runs[runs["study"] == "sensitivity"]
    keys = ["dataset", "backbone", "plugin", "swept_param"]
    points, bases = [], []
    for key, sub in sens.groupby(keys, sort=False):
        for value, part in sub.groupby("swept_value", sort=True):
            points.append(
                dict(zip(keys, key, strict=True))
                | {
                    "value": float(value),
                    "mean": part[column].mean(),
                    "std": part[column].std(ddof=1) if len(part) > 1 else 0.0,
                    "seeds": tuple(sorted(part["seed"])),
                }
            )
        seeds = set(sub["seed"])
        alone = runs[
            (runs["study"] == "main")
            & (runs["dataset"] == key[0])
            & (runs["backbone"] == key[1])
            & (runs["plugin"] == "none")
            & (runs["seed"].isin(seeds))
        ].drop_duplicates("seed")
        if set(alone["seed"]) == seeds:
            bases.append(
                dict(zip(keys, key, strict=True))
                | {"mean": alone[column].mean(), "seeds": tuple(sorted(seeds))}
            )
    return pd.DataFrame(points), pd.DataFrame(bases, columns=[*keys, "mean", "seeds"])


def sensitivity(
    runs: pd.DataFrame, form: FigureForm = DEFAULT_FIGURES, metric: str = METRIC
) -> tuple[plt.Figure, pd.DataFrame]:
    """Sensitivity panels of test ``metric`` (module docstring)."""
    points, bases = sensitivity_data(runs, metric)
    if points.empty:
        return empty("no sensitivity study in this config"), points
    params = list(dict.fromkeys(points["swept_param"]))
    fig, axes = panels(len(params), form, sharey=True)
    for ax, param in zip(axes, params, strict=True):
        sub = points[points["swept_param"] == param]
        for i, ((dataset, backbone, plugin), part) in enumerate(
            sub.groupby(["dataset", "backbone", "plugin"], sort=False)
        ):
            c = OKABE_ITO[(FIXED.get(plugin, 4) + i) % len(OKABE_ITO)]
            name = f"{backbone_name(backbone)}{plugin_name(plugin)}"
            n = seeds_text({len(seeds) for seeds in part["seeds"]})
            spread = "" if part["seeds"].map(len).max() > 1 else ", no spread"
            ax.plot(part["value"], part["mean"], marker="o", ms=3, color=c,
                    label=f"{name} ({dataset}; {n}{spread})")  # fmt: skip
            ax.fill_between(
                part["value"], part["mean"] - part["std"], part["mean"] + part["std"], color=c,
                alpha=0.2,
            )  # fmt: skip
            base = bases[
                (bases["dataset"] == dataset)
                & (bases["backbone"] == backbone)
                & (bases["swept_param"] == param)
            ]
            if not base.empty:
                ax.axhline(
                    base["mean"].iloc[0], color=c, ls="--", lw=1,
                    label=f"{backbone_name(backbone)} alone, same seeds",
                )  # fmt: skip
        if (sub["value"] > 0).all() and sub["value"].nunique() >= 2:
            ax.set_xscale("log")
        ax.set_ylim(*_span([*(sub["mean"] - sub["std"]), *(sub["mean"] + sub["std"]),
                            *bases[bases["swept_param"] == param]["mean"]]))  # fmt: skip
        ax.set_xlabel(param)
        ax.set_ylabel(f"test {short(metric)}")
    legend(fig, axes)
    return fig, points


def searches(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame, list[str]]]:
    """The searches of the tuning rows worth drawing: ``(title, candidates, axes)`` for each
    (dataset, backbone, plug-in, stage) that compared at least two points, ``axes`` its grid
    keys with more than one value (the two with most values; others are fixed at the
    winner's, and the panel says so)."""
    out = []
    for (dataset, backbone, plugin, stage), sub in rows.groupby([*GROUP, "stage"], sort=False):
        if len(sub) < 2:
            continue
        points = pd.DataFrame(list(sub["point"]), index=sub.index)
        varied = [k for k in points if points[k].nunique() > 1]
        varied = sorted(varied, key=lambda k: -points[k].nunique())[:2]
        win = points[sub["winner"]]
        fixed = [k for k in points if k not in varied and points[k].nunique() > 1]
        keep = pd.Series(True, index=sub.index)
        for k in fixed:  # a slice through the winner
            keep &= points[k] == (win[k].iloc[0] if len(win) else points[k].iloc[0])
        name = backbone_name(backbone) + (plugin_name(plugin) if plugin != "none" else "")
        title = f"{name} {stage} ({dataset})"
        if fixed:
            title += "\n" + ", ".join(f"{k} at the winner's" for k in fixed)
        sub = sub[keep].assign(**{k: points.loc[keep, k] for k in varied})
        if varied:
            out.append((title, sub, varied))
    return out


def _ticks(values: pd.Series) -> list:
    return sorted(values.dropna().unique(), key=lambda v: (isinstance(v, str), v))


def tuning(
    rows: pd.DataFrame, form: FigureForm = DEFAULT_FIGURES
) -> tuple[plt.Figure, pd.DataFrame]:
    """The searches (:func:`searches`): a heat map of every two-key grid (rows × columns the
    keys' values in order, one colour scale per panel with its range in the colour bar), a line
    over the values of every one-key grid; the winner marked ★, a candidate stopped by
    successive halving marked with its rung (its score is its best at that rung)."""
    found = searches(rows)
    if not found:
        return empty("no search compared more than one point"), rows
    fig, axes = panels(len(found), form)
    for ax, (title, sub, keys) in zip(axes, found, strict=True):
        ax.set_title(title)
        if len(keys) == 1:
            xs = _ticks(sub[keys[0]])
            line = sub.set_index(keys[0]).reindex(xs)
            pos = range(len(xs))
            ax.plot(pos, line["score"], marker="o", ms=3, color=OKABE_ITO[0])
            for i, (_, r) in enumerate(line.iterrows()):
                if r["winner"] is True:
                    ax.plot(i, r["score"], marker="*", ms=12, color=OKABE_ITO[1], ls="none")
                if pd.notna(r["stopped_at_rung"]):
                    ax.annotate(f"r{int(r['stopped_at_rung'])}", (i, r["score"]), fontsize=6)
            ax.set_xticks(list(pos), [format_value(x) for x in xs])
            ax.set_xlabel(keys[0])
            ax.set_ylabel(_score_label(sub))
            continue
        ys, xs = _ticks(sub[keys[0]]), _ticks(sub[keys[1]])
        grid = np.full((len(ys), len(xs)), np.nan)
        cells = [(ys.index(r[keys[0]]), xs.index(r[keys[1]]), r) for _, r in sub.iterrows()]
        for y, x, r in cells:
            grid[y, x] = r["score"]
        image = ax.imshow(grid, cmap="viridis", aspect="auto", origin="lower")
        for y, x, r in cells:  # light text on the dark half of the scale
            note = "★" if r["winner"] else ""
            if pd.notna(r["stopped_at_rung"]):
                note += f"r{int(r['stopped_at_rung'])}"
            light = float(image.norm(r["score"])) < 0.5
            ax.text(x, y, f"{r['score']:.3f}{note}", ha="center", va="center", fontsize=6,
                    color="white" if light else "black")  # fmt: skip
        bar = fig.colorbar(image, ax=ax)
        bar.set_label(f"{_score_label(sub)} ({np.nanmin(grid):.3f}–{np.nanmax(grid):.3f})")
        labels = [format_value(x) for x in xs]
        crowded = sum(len(t) for t in labels) > 20  # long labels would run into each other
        ax.set_xticks(range(len(xs)), labels, rotation=45 if crowded else 0)
        ax.set_yticks(range(len(ys)), [format_value(y) for y in ys])
        ax.set_xlabel(keys[1])
        ax.set_ylabel(keys[0])
    return fig, rows


def _score_label(candidates: pd.DataFrame) -> str:
    """What a search's scores are: its rows' ``metric`` (``valid recall@20``)."""
    named = candidates["metric"].dropna().unique() if "metric" in candidates else []
    return str(named[0]) if len(named) == 1 else "validation score"


def _span(values: list[float], least: float = 0.1) -> tuple[float, float]:
    """y limits around ``values``: their range, widened to at least ``least`` × their centre
    on each side (so a 0.005-wide spread of seed noise does not fill the panel), padded 5 %."""
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    centre = (low + high) / 2
    half = max((high - low) / 2 * 1.05, abs(centre) * least, 1e-6)
    return centre - half, centre + half


def modality_scores(
    chosen: pd.DataFrame, runs_root: Path, form: FigureForm = DEFAULT_FIGURES, metric: str = METRIC
) -> tuple[plt.Figure, pd.DataFrame]:
    """Per-table modality score trajectories, mean ± std over seeds (module docstring)."""
    rows, found_panels = [], []
    for key, runs in chosen.groupby(GROUP, sort=False):
        hists = [_history(runs_root, r.to_dict(), metric) for _, r in runs.iterrows()]
        prefix = "stat_score_mean_"
        names = [c[len(prefix) :] for c in hists[0].columns if c.startswith(prefix)]
        if names:
            found_panels.append((key, hists, names))
    if not found_panels:
        return empty("no run logged ILA modality scores (fettle / cross)"), pd.DataFrame()
    fig, axes = panels(len(found_panels), form, sharey=True)
    for ax, ((dataset, backbone, plugin), hists, names) in zip(axes, found_panels, strict=True):
        for i, name in enumerate(names):
            agg = _overseeds_text(hists, f"stat_score_mean_{name}")
            c = OKABE_ITO[(i + 1) % len(OKABE_ITO)]
            ax.plot(agg["epoch"], agg["mean"], color=c, label=name)
            ax.fill_between(
                agg["epoch"], agg["mean"] - agg["std"], agg["mean"] + agg["std"], color=c, alpha=0.2
            )
            rows += [
                {"dataset": dataset, "backbone": backbone, "plugin": plugin, "table": name} | r
                for r in agg.to_dict("records")
            ]
        ax.set_title(f"{dataset} · {backbone_name(backbone)}{plugin_name(plugin)}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("modality score")
        ax.plot([], [], " ", label=f"band ±1 SD over {seeds_text([len(hists)])}")
    legend(fig, axes)
    return fig, pd.DataFrame(rows)


def build_figures(
    analysis: Analysis,
    out_dir: str | Path,
    claim: Callable[[Path], object] | None = None,
    names: Sequence[str] | None = None,
    form: FigureForm = DEFAULT_FIGURES,
) -> None:
    """Write the figures ``names`` (default: every one of :data:`crossrec.report.FIGURES`; a
    study's own list: :meth:`crossrec.study.base.Planner.outputs`) as ``.png`` and ``.pdf``
    into ``out_dir`` from ``analysis`` (its corrected p-values for the bars' marks). Every
    figure is drawn before any file is written (``claim``, default: create the folder, makes
    it ready just before)."""
    from crossrec.report import FIGURES

    out, root, chosen, metric = Path(out_dir), analysis.runs_root, analysis.chosen, analysis.metric
    draw = {
        "curves": functools.partial(curves, chosen, root, form, metric),
        "improvement": functools.partial(improvement, chosen, analysis.pvalues, form, metric),
        "sensitivity": functools.partial(sensitivity, analysis.runs, form, metric),
        "modality_scores": functools.partial(modality_scores, chosen, root, form, metric),
        "tuning": functools.partial(tuning, analysis.tuning, form),
    }
    with style(form):  # drawn and saved in crossrec's style, nothing left behind
        figures = {name: draw[name]()[0] for name in (FIGURES if names is None else names)}
        claim(out) if claim is not None else out.mkdir(parents=True, exist_ok=True)
        for name, fig in figures.items():
            save(fig, out / name)
