"""The search behind each reported point, as a reader can check it: every candidate a stage (or
a flat study's grid) compared, with its point, score and epochs, the rung where successive
halving stopped it, the winner; and the warnings a reader needs — a winner on the edge of its
grid, a winner whose margin is smaller than seed noise.

Sources: a staged study's selection and rung files (:mod:`crossrec.study.files`; every candidate
and its score as the selection saw it); a flat study's main runs (each grid variant's mean
validation score over its seeds, the selection the tables make). Torch-free.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from crossrec.report.render import long_name
from crossrec.report.stats import GROUP
from crossrec.run import TrainConfig
from crossrec.study.files import Rung, Selection, rung_path, selection_path
from crossrec.study.grid import format_value

COLUMNS = [*GROUP, "stage", "search", "variant", "point", "score", "epochs_run",
           "stopped_at_rung", "confirmed", "winner", "rank", "metric"]  # fmt: skip
EDGE_MIN_VALUES = 3  # a grid key needs this many numeric values for its edge to mean anything


def parse_point(variant: str, keys: list[str] | None = None) -> dict[str, Any]:
    """The grid values a variant name carries (``alpha=0.001+beta=0.1`` → ``{alpha: 0.001,
    beta: 0.1}``; numbers as floats), only ``keys`` when given; ``{}`` for ``default``."""
    out: dict[str, Any] = {}
    for part in variant.split("+"):
        key, sep, text = part.partition("=")
        if not sep or (keys is not None and key not in keys):
            continue
        try:
            out[key] = float(text)
        except ValueError:
            out[key] = text
    return out


def _point_text(point: dict[str, Any]) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in point.items()) or "–"


def _halving(root: Path, stage: str, dataset: str, backbone: str, plugin: str) -> list[Rung]:
    """The rung files of a stage, in order (none for an exhaustive search)."""
    rungs = []
    while (path := rung_path(root, stage, dataset, backbone, plugin, len(rungs))).is_file():
        rungs.append(Rung.read(path))
    return rungs


def _search(n: int, rungs: list[Rung], final: int) -> str:
    """``grid, 20 points`` or ``halving: 20 → 7 → 3 (rungs at 5, 15 epochs)``."""
    if not rungs:
        return f"grid, {n} points"
    sizes = " → ".join(str(len(r.candidates)) for r in rungs) + f" → {final}"
    epochs = ", ".join(str(r.epochs) for r in rungs)
    return f"halving: {sizes} (rung budgets, epochs: {epochs})"


def _ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with ``rank`` (1 = best), in their given order: the confirmed candidates first by
    their seed mean, then the others by score (NaN last)."""

    def key(i: int) -> tuple:
        confirmed = rows[i].get("confirmed")
        value = confirmed if confirmed is not None else rows[i]["score"]
        return (confirmed is None, not math.isfinite(value), -value, i)

    order = sorted(range(len(rows)), key=key)
    for rank, i in enumerate(order, start=1):
        rows[i]["rank"] = rank
    return rows


def staged_rows(
    root: Path, groups: list[tuple[str, str, str]], paths: dict[tuple, Path] | None = None
) -> pd.DataFrame:
    """The candidates of every stage below the selections folder ``root`` for the (dataset,
    backbone, plug-in) ``groups`` (``none``: the tune stage; a plug-in: its align stage;
    ``paths``: a group's selection file elsewhere); a pinned stage has no file and no rows."""
    out = []
    for dataset, backbone, plugin in groups:
        stage = "tune" if plugin == "none" else "align"
        path = selection_path(root, stage, dataset, backbone, plugin)
        path = Path((paths or {}).get((dataset, backbone, plugin), path))
        if not path.is_file():
            continue
        sel = Selection.read(path)
        rungs = _halving(root, stage, dataset, backbone, plugin)
        final = sum("stopped_at_rung" not in c for c in sel.candidates)
        search = _search(len(sel.candidates), rungs, final)
        confirmed = [c for c in sel.candidates if "confirm_scores" in c]
        if confirmed:
            n = len(confirmed[0]["confirm_scores"])
            search += f"; top {len(confirmed)} confirmed, mean of {n} seeds"
        keys = list(sel.point)
        rows = [
            {
                "dataset": dataset,
                "backbone": backbone,
                "plugin": plugin,
                "stage": stage,
                "search": search,
                "variant": c["variant"],
                "point": parse_point(c["variant"], keys),
                "score": float(c["score"]),
                "epochs_run": c.get("epochs_run"),
                "stopped_at_rung": c.get("stopped_at_rung"),
                "confirmed": c.get("seed_mean"),
                "winner": c["variant"] == sel.variant,
                "metric": sel.metric,
            }  # fmt: skip
            for c in sel.candidates
        ]
        out += _ranked(rows)
    return pd.DataFrame(out, columns=COLUMNS)


def flat_rows(
    runs: pd.DataFrame,
    selection: pd.DataFrame,
    grids: dict[tuple, dict[str, Any]],
    metric: str = "recall@20",
) -> pd.DataFrame:
    """A flat study's candidates: per group every main-study variant with its mean validation
    ``metric`` over seeds (the tables' selection, :func:`crossrec.report.stats.select`;
    ``grids``: (dataset, backbone, plug-in, variant) → the variant's grid values)."""
    main = runs[runs["study"] == "main"]
    column = f"valid_{metric}"
    out = []
    for group, sub in main.groupby(GROUP, sort=False):
        means = sub.groupby("variant", sort=True).agg(
            score=(column, "mean"), epochs_run=("epochs_run", "mean")
        )
        chosen = selection[(selection[GROUP] == pd.Series(group, index=GROUP)).all(axis=1)]
        winner = chosen["variant"].iloc[0] if len(chosen) else None
        rows = [
            {
                **dict(zip(GROUP, group, strict=True)),
                "stage": "main",
                "search": f"grid, {len(means)} point{'s' if len(means) > 1 else ''} "
                f"(mean of {sub['seed'].nunique()} seed{'s' if sub['seed'].nunique() != 1 else ''})",
                "variant": variant,
                "point": dict(grids.get((*group, variant), {})),
                "score": float(row["score"]),
                "epochs_run": float(row["epochs_run"]),
                "stopped_at_rung": None,
                "confirmed": None,
                "winner": variant == winner,
                "metric": f"valid {metric}",
            }  # fmt: skip
            for variant, row in means.iterrows()
        ]
        out += _ranked(rows)
    return pd.DataFrame(out, columns=COLUMNS)


def tuning_rows(
    plan: dict[str, Any],
    runs: pd.DataFrame,
    selection: pd.DataFrame,
    selections: Path | None,
    metric: str = "recall@20",
) -> pd.DataFrame:
    """Every candidate of the study's searches (:data:`COLUMNS`): from the selection files of a
    staged study (``plan["stages"]`` set; ``selections`` its folder), else from the runs (their
    mean validation ``metric``)."""
    main = [r for r in plan["runs"] if r["study"] == "main"]
    if plan.get("stages") and selections is not None:
        groups = list(dict.fromkeys((r["dataset"], r["backbone"], r["plugin"]) for r in main))
        return staged_rows(Path(selections), groups)
    grids = {(r["dataset"], r["backbone"], r["plugin"], r["variant"]): r["grid"] for r in main}
    return flat_rows(runs, selection, grids, metric)


def config_key(row: dict[str, Any], key: str, plan_row: dict[str, Any] | None) -> str:
    """The config key that sets grid key ``key`` of a candidate row: ``plugins.<p>.<key>`` for a
    plug-in's, ``backbones.<b>.train.<key>`` for a backbone's own trainer setting, else
    ``backbones.<b>.<key>``."""
    plugin_params = (plan_row or {}).get("plugin_params") or {}
    if row["stage"] == "align" or (row["stage"] == "main" and key in plugin_params):
        return f"plugins.{row['plugin']}.{key}"
    if key in {f for f in TrainConfig.__dataclass_fields__}:
        return f"backbones.{row['backbone']}.train.{key}"
    return f"backbones.{row['backbone']}.{key}"


def edge_warnings(rows: pd.DataFrame, plan: dict[str, Any]) -> list[str]:
    """One line per winner that sits on the edge of a numeric grid key of at least three values:
    the best point may lie outside the grid (not at a lower edge of 0: the parameter off)."""
    plan_rows = {(r["dataset"], r["backbone"], r["plugin"]): r for r in plan["runs"]}
    out = []
    for (dataset, backbone, plugin, stage), sub in rows.groupby([*GROUP, "stage"], sort=False):
        winner = sub[sub["winner"]]
        if winner.empty:
            continue
        win = winner.iloc[0].to_dict()
        for key, value in win["point"].items():
            values = sorted({p[key] for p in sub["point"] if isinstance(p.get(key), float)})
            if len(values) < EDGE_MIN_VALUES or not isinstance(value, float):
                continue
            if value not in (values[0], values[-1]):
                continue
            side = "above" if value == values[-1] else "below"
            if side == "below" and value == 0:  # 0 (off) is the end of the range, not an edge
                continue
            where = config_key(win, key, plan_rows.get((dataset, backbone, plugin)))
            out.append(
                f"{dataset}/{backbone}/{plugin} {stage}: the winner {win['variant']} is on the "
                f"edge of the grid ({key} = {format_value(value)} of {len(values)} values); "
                f"widen `{where}` {side} {format_value(value)}"
            )
    return out


def noise_warnings(rows: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    """One line per search whose winner ties the runner-up or beats it by less than the
    seed-to-seed SD of the winner's selection metric (its replicate runs over the seeds)."""
    main = runs[runs["study"] == "main"]
    out = []
    for (dataset, backbone, plugin, stage), sub in rows.groupby([*GROUP, "stage"], sort=False):
        scores = sub[sub["score"].map(math.isfinite)].sort_values("rank")
        if len(scores) < 2 or not scores["winner"].iloc[0]:
            continue
        winner = scores.iloc[0]
        value = scores["confirmed"].where(scores["confirmed"].notna(), scores["score"])
        margin = float(value.iloc[0] - value.iloc[1])
        column = str(winner["metric"]).replace(" ", "_")
        seeds = main[
            (main["dataset"] == dataset) & (main["backbone"] == backbone)
            & (main["plugin"] == plugin) & (main["variant"] == winner["variant"])
        ]  # fmt: skip
        seeds = seeds[column] if column in seeds else seeds.iloc[0:0]
        label = f"{dataset}/{backbone}/{plugin} {stage}: the winner {winner['variant']}"
        runner = scores["variant"].iloc[1]
        if margin == 0:
            out.append(f"{label} ties the runner-up {runner} (the first in grid order wins)")
            continue
        if len(seeds) < 2:
            continue
        sd = float(seeds.std(ddof=1))
        if margin < sd:
            out.append(
                f"{label} beats the runner-up {runner} by {margin:.4f}, less than its "
                f"seed-to-seed SD {sd:.4f} (n = {len(seeds)} seeds): the choice is within noise"
            )
    return out


def tuning_table(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tuning table: display (winner marked ★, scores to 4 decimals, a confirmation's seed
    mean only where a search had one) and numeric frames."""
    numeric = rows.copy()
    numeric["point"] = numeric["point"].map(_point_text)
    display = numeric.drop(columns=["variant", "metric"])
    display["score"] = display["score"].map(lambda s: f"{s:.4f}" if math.isfinite(s) else "–")
    display["epochs_run"] = display["epochs_run"].map(
        lambda e: "–" if e is None or pd.isna(e) else f"{e:.3g}"
    )
    display["stopped_at_rung"] = display["stopped_at_rung"].map(
        lambda r: "–" if r is None or pd.isna(r) else str(int(r))
    )
    if display["confirmed"].isna().all():
        display = display.drop(columns=["confirmed"])
    else:
        display["confirmed"] = display["confirmed"].map(
            lambda v: "–" if v is None or pd.isna(v) else f"{v:.4f}"
        )
    display["winner"] = display["winner"].map(lambda w: "★" if w else "")
    display = display.rename(
        columns={
            "stopped_at_rung": "stopped at rung",
            "epochs_run": "epochs",
            "confirmed": "seed mean",
        }
    )
    return display, numeric


def tuning_note(analysis: Any) -> str:  # noqa: ANN401
    """The tuning table's note: what a score is, and every warning."""
    text = (
        f"Scores: validation {long_name(analysis.metric)} (a staged study: the selection "
        "file's metric at the stage seed; a candidate stopped by successive halving: its best "
        "value at that rung)."
    )
    return text + "".join(f" Warning: {w}." for w in analysis.warnings)


def candidates_per_group(rows: pd.DataFrame) -> dict[tuple[str, str, str], int]:
    """How many candidates the search behind each (dataset, backbone, plug-in) compared."""
    return {tuple(k): len(sub) for k, sub in rows.groupby(GROUP, sort=False)}
