"""The figures aggregate seeds, compare like with like, and plot the tables' numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_metrics

from crossrec.errors import DataError
from crossrec.report.analysis import analyse
from crossrec.report.figures import (
    build_figures,
    curves,
    improvement,
    modality_scores,
    sensitivity_data,
)
from crossrec.report.stats import adjust, select, selected_runs, significance
from crossrec.report.summary import load_runs
from crossrec.report.tables import main_table

FIELDS = ("dataset", "backbone", "plugin", "variant", "seed")


def _run(root: Path, key: tuple, recall: float, study: str = "main") -> dict:
    test = {f"{m}@{k}": recall * f for m, f in (("recall", 1), ("ndcg", 0.5), ("precision", 0.1))
            for k in (10, 20)}  # fmt: skip
    folder = write_metrics(root, key, {"recall@20": recall}, test, best_epoch=2, epochs_run=3)
    epochs = np.arange(1, 4)
    history = {"epoch": epochs, "valid_recall@20": recall * epochs / 3}
    if key[2] != "none":
        history |= {"stat_score_mean_id": 0.1 * epochs + key[4], "stat_score_std_id": 0.5}
    pd.DataFrame(history).to_csv(folder / "history.csv", index=False)
    return {"study": study, **dict(zip(FIELDS, key, strict=True)), "swept": None}


def _study(root: Path) -> pd.DataFrame:
    plan = []
    values = {"none": (0.20, 0.22, 0.21), "cross": (0.25, 0.26, 0.28)}
    for backbone in ("lightgcn", "freedom"):
        for plugin, recalls in values.items():
            for seed, recall in zip((1, 2, 3), recalls, strict=True):
                plan.append(_run(root, ("d", backbone, plugin, "default", seed), recall))
    blob = {"schema": 1, "selection": "validation", "runs": plan, "tables": {}}
    return load_runs(blob, root)


def _chosen(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return selected_runs(runs, select(runs)), select(runs)


def test_improvement_bars_are_the_main_tables_numbers(tmp_path: Path) -> None:
    runs = _study(tmp_path)
    chosen, _ = _chosen(runs)
    pvalues = significance(chosen, tmp_path)
    pvalues["p_adj"] = adjust(pvalues["p"], "bh")
    _, data = improvement(chosen, pvalues)
    shown, _ = main_table(chosen, pvalues, [20], ["none", "cross"])
    deltas = shown[shown["model"] == "ΔImprov."]["R@20"].tolist()
    assert [f"{100 * d:+.2f}%" for d in data["delta"]] == deltas
    per_seed = (np.array([0.25, 0.26, 0.28]) - [0.20, 0.22, 0.21]) / [0.20, 0.22, 0.21]
    assert data["err"].iloc[0] == pytest.approx(per_seed.std(ddof=1))
    marked = shown[shown["model"] == "+CROSS"]["R@20"].str.endswith("†").tolist()
    assert data["significant"].tolist() == marked


def test_a_backbone_without_its_none_run_is_an_error(tmp_path: Path) -> None:
    runs = _study(tmp_path)
    chosen, _ = _chosen(runs)
    chosen = chosen[~((chosen["backbone"] == "freedom") & (chosen["plugin"] == "none"))]
    with pytest.raises(DataError, match="freedom/none"):
        improvement(chosen, significance(chosen, tmp_path))


def test_curves_and_scores_are_means_over_seeds(tmp_path: Path) -> None:
    runs = _study(tmp_path)
    chosen, _ = _chosen(runs)
    _, data = curves(chosen, tmp_path)
    last = data[(data["backbone"] == "lightgcn") & (data["plugin"] == "cross")].iloc[-1]
    assert last["mean"] == pytest.approx(np.mean([0.25, 0.26, 0.28]))
    assert last["std"] == pytest.approx(np.std([0.25, 0.26, 0.28], ddof=1)) and last["n"] == 3
    _, scores = modality_scores(chosen, tmp_path)
    first = scores[(scores["backbone"] == "lightgcn") & (scores["epoch"] == 1)].iloc[0]
    assert first["mean"] == pytest.approx(0.1 + 2)  # seeds 1, 2, 3 offset the score by the seed
    assert first["std"] == pytest.approx(1.0)


def test_sensitivity_baseline_uses_the_sweeps_seeds(tmp_path: Path) -> None:
    runs = _study(tmp_path)
    rows = []
    for value, recall in ((1e-4, 0.24), (1e-2, 0.27)):
        key = ("d", "freedom", "cross", f"alpha={value}", 1)
        rows.append(_run(tmp_path, key, recall, "sensitivity") | {"study": "sensitivity"})
    extra = load_runs({"schema": 1, "selection": "validation", "runs": rows, "tables": {}},
                      tmp_path)  # fmt: skip
    extra["swept_param"], extra["swept_value"] = "alpha", [1e-4, 1e-2]
    points, bases = sensitivity_data(pd.concat([runs, extra], ignore_index=True))
    assert points["mean"].tolist() == [0.24, 0.27]
    assert bases["seeds"].item() == (1,) and bases["mean"].item() == pytest.approx(0.20)


def test_figures_written_as_pdf_and_png(tmp_path: Path) -> None:
    runs = _study(tmp_path / "runs")
    build_figures(analyse(runs, select(runs), tmp_path / "runs"), tmp_path / "fig")
    for name in ("curves", "improvement", "sensitivity", "modality_scores"):
        assert (tmp_path / "fig" / f"{name}.pdf").read_bytes().startswith(b"%PDF")
        assert (tmp_path / "fig" / f"{name}.png").stat().st_size > 1000


def test_curves_end_where_the_first_seed_stopped_and_mark_the_reported_epochs(
    tmp_path: Path,
) -> None:
    runs = _study(tmp_path)
    chosen, _ = _chosen(runs)
    # seed 2 of LightGCN+CROSS stopped early: after epoch 2 only two seeds remain
    folder = tmp_path / "d" / "lightgcn" / "cross" / "default" / "seed2"
    history = pd.read_csv(folder / "history.csv")
    history[history["epoch"] <= 2].to_csv(folder / "history.csv", index=False)
    fig, data = curves(chosen, tmp_path)
    part = data[(data["backbone"] == "lightgcn") & (data["plugin"] == "cross")]
    assert part["epoch"].max() == 2 and set(part["n"]) == {3}
    ax = fig.axes[0]
    assert ax.get_title() == "d · LightGCN"  # what the panel is; the rest in the legend
    shown = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "±1 SD over n = 3 seeds" in shown and "reported epoch" in shown
    # the cut curve says so: an end mark and its legend entry (only LightGCN+CROSS was cut)
    assert "ends: a seed stopped, the rest went on" in shown
    ends = [line for line in ax.get_lines() if line.get_marker() == "|"]
    assert len(ends) == 1 and list(ends[0].get_xdata()) == [2]
    markers = [line for line in ax.get_lines() if line.get_marker() == "v"]
    assert markers and all(list(line.get_xdata()) == [2, 2, 2] for line in markers)
    # the legend sits below the panels, outside every axes
    fig.canvas.draw()
    box = fig.legends[0].get_window_extent()
    assert all(box.y1 <= a.get_window_extent().y0 for a in fig.axes if a.get_visible())


def test_sensitivity_band_and_an_axis_wider_than_seed_noise(tmp_path: Path) -> None:
    from crossrec.report.figures import sensitivity

    runs = _study(tmp_path)
    rows = []
    for value, recall in ((1e-4, 0.240), (1e-2, 0.243)):
        for seed in (1, 2):
            key = ("d", "freedom", "cross", f"alpha={value}", seed)
            rows.append(_run(tmp_path, key, recall + seed * 1e-3, "sensitivity"))
    extra = load_runs({"schema": 1, "selection": "validation", "runs": rows, "tables": {}},
                      tmp_path)  # fmt: skip
    extra["swept_param"] = "alpha"
    extra["swept_value"] = [1e-4, 1e-4, 1e-2, 1e-2]
    fig, points = sensitivity(pd.concat([runs, extra], ignore_index=True))
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert high - low >= 0.2 * (high + low) / 2 - 1e-9  # ±10 % of the centre, not 0.003
    assert ax.collections, "the seed spread is drawn as a band"
    assert any("n = 2 seeds" in t.get_text() for t in fig.legends[0].get_texts())


def test_importing_the_figures_changes_no_matplotlib_setting() -> None:
    """No global rcParams (or backend) change at import: a user's own plots keep theirs."""
    import subprocess
    import sys

    code = (
        "import matplotlib; before = dict(matplotlib.rcParams); "
        "import crossrec.report, crossrec.report.figures; "
        "changed = [k for k, v in matplotlib.rcParams.items() if before[k] != v]; "
        "print(changed)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_type_42_fonts_and_the_users_font_size_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every figure PDF embeds TrueType (no Type 3: `pdffonts`, poppler-utils); a font size the
    user set (matplotlibrc, a style) is honoured while the font type stays 42; crossrec's own
    sizes apply where the user left matplotlib's defaults."""
    import shutil
    import subprocess

    import matplotlib

    from crossrec.report import figures

    runs = _study(tmp_path / "runs")
    analysis = analyse(runs, select(runs), tmp_path / "runs")
    sizes, types = [], []
    original = figures.save

    def record(fig, stem: Path) -> None:  # noqa: ANN001
        sizes.append(fig.axes[0].xaxis.get_ticklabels()[0].get_fontsize())
        types.append(matplotlib.rcParams["pdf.fonttype"])
        original(fig, stem)

    monkeypatch.setattr(figures, "save", record)
    with matplotlib.rc_context({"font.size": 13}):  # the user's setting
        build_figures(analysis, tmp_path / "user")
    assert set(sizes) == {13.0} and set(types) == {42}
    sizes.clear()
    build_figures(analysis, tmp_path / "default")
    assert set(sizes) == {8.0}
    assert matplotlib.rcParams["pdf.fonttype"] == 3  # nothing left behind
    if shutil.which("pdffonts") is None:
        pytest.skip("no pdffonts (.ci/run installs poppler-utils)")
    pdfs = sorted((tmp_path / "default").glob("*.pdf"))
    assert pdfs
    for pdf in pdfs:
        listing = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
        fonts = listing.splitlines()[2:]
        assert fonts and not [f for f in fonts if "Type 3" in f], (pdf.name, listing)


def test_a_users_matplotlibrc_is_honoured_with_type_42_fonts(tmp_path: Path) -> None:
    """A matplotlibrc file (MATPLOTLIBRC) sets the font size crossrec draws with; the font
    type inside crossrec's style is 42 and back to the user's outside it."""
    import os
    import subprocess
    import sys

    (tmp_path / "matplotlibrc").write_text("font.size: 13\npdf.fonttype: 3\n")
    code = (
        "import matplotlib; from crossrec.report.figstyle import style; "
        "ctx = style(); ctx.__enter__(); "
        "print(matplotlib.rcParams['font.size'], matplotlib.rcParams['pdf.fonttype']); "
        "ctx.__exit__(None, None, None); print(matplotlib.rcParams['pdf.fonttype'])"
    )
    env = dict(os.environ, MATPLOTLIBRC=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True).stdout.split()  # fmt: skip
    assert out == ["13.0", "42", "3"]


def test_figures_style_width_and_font_size_keys(tmp_path: Path) -> None:
    """`figures.style` (a .mplstyle file), `figures.font_size` and `figures.width` (the venue's
    column or page, in TeX points) shape the figure; unknown values are named."""
    import matplotlib

    from crossrec.report.figstyle import POINTS_PER_INCH, FigureForm, style
    from crossrec.report.latex import VENUES

    sheet = tmp_path / "paper.mplstyle"
    sheet.write_text("axes.grid: True\nlines.linewidth: 2.5\n")
    runs = _study(tmp_path / "runs")
    chosen, _ = _chosen(runs)
    form = FigureForm.of({"style": str(sheet), "font_size": 6, "width": "column"},
                         {"venue": "ieee"})  # fmt: skip
    with style(form):
        assert matplotlib.rcParams["axes.grid"] and matplotlib.rcParams["font.size"] == 6
        fig, _ = curves(chosen, tmp_path / "runs", form)
    assert fig.get_figwidth() == pytest.approx(VENUES["ieee"][0] / POINTS_PER_INCH)
    assert not matplotlib.rcParams["axes.grid"]  # nothing left behind
    page = FigureForm.of({"width": "page"}, {"venue": "acm"})
    with style(page):
        wide, _ = curves(chosen, tmp_path / "runs", page)
    assert wide.get_figwidth() == pytest.approx(VENUES["acm"][1] / POINTS_PER_INCH)
    for figures, message in (({"style": "no-such-style"}, "figures.style 'no-such-style'"),
                             ({"width": "half"}, "figures.width 'half'"),
                             ({"font_size": 99}, "figures.font_size 99")):  # fmt: skip
        with pytest.raises(DataError, match=message):
            FigureForm.of(figures, {})
