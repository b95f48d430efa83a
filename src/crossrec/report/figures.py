"""The papers' figures from the runs (PNG and PDF, matplotlib's Agg backend).

* ``curves`` — validation Recall@20 per epoch of every main-study run of the selected variants,
  one panel per (dataset, backbone), one colour per plug-in, one line per seed;
* ``improvement`` — ΔImprov. of each plug-in over its backbone (test Recall@20, mean over
  seeds), bars per backbone, one panel per dataset;
* ``sensitivity`` — test Recall@20 against each swept parameter (one panel each, log x-axis for
  positive values), the backbone's plain run as a dashed line (CROSS's parameter figure);
* ``modality_scores`` — mean ± std of ILA's per-item modality scores per epoch (the
  ``stat_score_mean_*`` / ``stat_score_std_*`` columns of ``history.csv``).

A figure whose study is not configured says so in its panel instead of being left out.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from crossrec.errors import DataError  # noqa: E402
from crossrec.io import atomic_path  # noqa: E402
from crossrec.report.stats import GROUP, selected_runs  # noqa: E402
from crossrec.report.summary import run_folder  # noqa: E402
from crossrec.report.tables import in_config_order  # noqa: E402

METRIC = "recall@20"


def _history(runs_root: Path, row: dict) -> pd.DataFrame:
    path = run_folder(runs_root, row) / "history.csv"
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(path, "missing (rerun the training job)") from None


def _panels(n: int, width: float = 4.2, height: float = 3.2) -> tuple[plt.Figure, list]:
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _empty(message: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return fig


def _save(fig: plt.Figure, stem: Path) -> None:
    fig.tight_layout()
    for suffix in (".png", ".pdf"):
        with atomic_path(stem.with_suffix(suffix)) as tmp:
            fig.savefig(tmp, format=suffix[1:], dpi=150)
    plt.close(fig)


def curves(chosen: pd.DataFrame, runs_root: Path) -> plt.Figure:
    """Validation Recall@20 per epoch (module docstring)."""
    groups = list(chosen.groupby(["dataset", "backbone"], sort=False))
    fig, axes = _panels(len(groups))
    for ax, ((dataset, backbone), sub) in zip(axes, groups, strict=True):
        for i, (plugin, runs) in enumerate(sub.groupby("plugin", sort=False)):
            for j, (_, row) in enumerate(runs.iterrows()):
                hist = _history(runs_root, row.to_dict())
                ax.plot(
                    hist["epoch"],
                    hist[f"valid_{METRIC}"],
                    color=f"C{i}",
                    lw=1,
                    alpha=0.8,
                    label=plugin if j == 0 else None,
                )
        ax.set_title(f"{dataset} · {backbone}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"valid {METRIC}")
        ax.legend(fontsize=8)
    return fig


def improvement(chosen: pd.DataFrame) -> plt.Figure:
    """ΔImprov. bars (module docstring)."""
    mean = chosen.groupby(GROUP, sort=False)[f"test_{METRIC}"].mean().reset_index()
    datasets = list(mean["dataset"].unique())
    fig, axes = _panels(len(datasets), width=5.5)
    for ax, dataset in zip(axes, datasets, strict=True):
        sub = mean[mean["dataset"] == dataset]
        base = sub[sub["plugin"] == "none"].set_index("backbone")[f"test_{METRIC}"]
        other = sub[sub["plugin"] != "none"]
        plugins = list(other["plugin"].unique())
        backbones = list(base.index)
        width = 0.8 / max(len(plugins), 1)
        for i, plugin in enumerate(plugins):
            rows = other[other["plugin"] == plugin].set_index("backbone")
            values = [
                100 * (rows.loc[b, f"test_{METRIC}"] - base[b]) / base[b] if b in rows.index else 0
                for b in backbones
            ]
            xs = [x + i * width for x in range(len(backbones))]
            ax.bar(xs, values, width=width, label=plugin, color=f"C{i + 1}")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(backbones))], backbones)
        ax.set_ylabel(f"Δ test {METRIC} vs none (%)")
        ax.set_title(dataset)
        ax.legend(fontsize=8)
    return fig


def sensitivity(runs: pd.DataFrame, chosen: pd.DataFrame) -> plt.Figure:
    """Sensitivity panels (module docstring)."""
    sens = runs[runs["study"] == "sensitivity"]
    if sens.empty:
        return _empty("no sensitivity study in this config")
    params = list(sens["swept_param"].unique())
    fig, axes = _panels(len(params))
    for ax, param in zip(axes, params, strict=True):
        sub = sens[sens["swept_param"] == param]
        for i, (dataset, part) in enumerate(sub.groupby("dataset", sort=False)):
            curve = part.groupby("swept_value")[f"test_{METRIC}"].mean().sort_index()
            ax.plot(curve.index, curve.values, marker="o", color=f"C{i}", label=dataset)
            backbone = part["backbone"].iloc[0]
            base = chosen[
                (chosen["dataset"] == dataset)
                & (chosen["backbone"] == backbone)
                & (chosen["plugin"] == "none")
            ]
            if not base.empty:
                ax.axhline(
                    base[f"test_{METRIC}"].mean(),
                    color=f"C{i}",
                    ls="--",
                    lw=1,
                    label=f"{backbone} (none)",
                )
        if (sub["swept_value"].astype(float) > 0).all() and sub["swept_value"].nunique() >= 2:
            ax.set_xscale("log")
        ax.set_xlabel(param)
        ax.set_ylabel(f"test {METRIC}")
        ax.set_title(f"{sub['backbone'].iloc[0]} + {sub['plugin'].iloc[0]}: {param}")
        ax.legend(fontsize=8)
    return fig


def modality_scores(chosen: pd.DataFrame, runs_root: Path) -> plt.Figure:
    """Per-item modality score trajectories (module docstring)."""
    panels = []
    for _, row in chosen.iterrows():
        hist = _history(runs_root, row.to_dict())
        names = [
            c[len("stat_score_mean_") :] for c in hist.columns if c.startswith("stat_score_mean_")
        ]
        if names and int(row["seed"]) == int(chosen["seed"].min()):
            panels.append((row, hist, names))
    if not panels:
        return _empty("no run logged ILA modality scores (fettle / cross)")
    fig, axes = _panels(len(panels))
    for ax, (row, hist, names) in zip(axes, panels, strict=True):
        for i, name in enumerate(names):
            mean, std = hist[f"stat_score_mean_{name}"], hist[f"stat_score_std_{name}"]
            ax.plot(hist["epoch"], mean, color=f"C{i}", label=name)
            ax.fill_between(hist["epoch"], mean - std, mean + std, color=f"C{i}", alpha=0.2)
        ax.set_title(f"{row['dataset']} · {row['backbone']} + {row['plugin']}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("modality score")
        ax.legend(fontsize=8)
    return fig


def build_figures(
    runs: pd.DataFrame, selection: pd.DataFrame, runs_root: str | Path, out_dir: str | Path
) -> None:
    """Write every figure of :data:`crossrec.report.FIGURES` as ``.png`` and ``.pdf`` into ``out_dir``."""
    out, root = Path(out_dir), Path(runs_root)
    out.mkdir(parents=True, exist_ok=True)
    chosen = in_config_order(selected_runs(runs, selection), runs)
    _save(curves(chosen, root), out / "curves")
    _save(improvement(chosen), out / "improvement")
    _save(sensitivity(runs, chosen), out / "sensitivity")
    _save(modality_scores(chosen, root), out / "modality_scores")
