"""Selection, statistics and tables on synthetic runs; missing runs are errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_metrics

from crossrec.errors import DataError
from crossrec.report.render import Layout, marks, to_latex, to_markdown
from crossrec.report.stats import paired_pvalue, select, significance
from crossrec.report.summary import load_runs
from crossrec.report.tables import cell, delta, main_table


def _runs(rows: list[tuple]) -> pd.DataFrame:
    cols = ["study", "dataset", "backbone", "plugin", "variant", "seed"]
    frame = pd.DataFrame([r[:6] for r in rows], columns=cols)
    frame["valid_recall@20"] = [r[6] for r in rows]
    frame["test_recall@20"] = [r[7] for r in rows]
    return frame


def test_selection_uses_validation_not_test() -> None:
    runs = _runs(
        [
            ("main", "d", "b", "p", "v1", 1, 0.30, 0.10),
            ("main", "d", "b", "p", "v1", 2, 0.30, 0.10),
            ("main", "d", "b", "p", "v2", 1, 0.20, 0.90),
            ("main", "d", "b", "p", "v2", 2, 0.20, 0.90),
            ("ablation", "d", "b", "p", "v3", 1, 0.99, 0.99),  # other studies never compete
        ]
    )
    assert select(runs)["variant"].item() == "v1"
    assert select(runs, by="mmrec_test")["variant"].item() == "v2"
    assert select(runs)["score"].item() == pytest.approx(0.30)


def test_paired_pvalue() -> None:
    assert paired_pvalue([1, 2, 3], [1, 2, 3]) == 1.0
    assert paired_pvalue([1.0], [2.0]) != paired_pvalue([1.0], [2.0])  # NaN with one pair
    assert paired_pvalue([1.0, 2.1, 3.3, 4.2], [0.0, 1.0, 2.2, 3.1]) < 0.01


def _write_run(root: Path, key: tuple, recall: float, per_user: list[float] | None = None) -> None:
    test = {"recall@20": recall, "ndcg@20": recall / 2, "precision@20": recall / 10}
    folder = write_metrics(root, key, {"recall@20": recall}, test)
    if per_user is not None:
        pd.DataFrame({"user": range(len(per_user)), "recall@20": per_user}).to_csv(
            folder / "test_per_user.csv", index=False
        )


def _plan(keys: list[tuple]) -> dict:
    fields = ("dataset", "backbone", "plugin", "variant", "seed")
    runs = [{"study": "main", **dict(zip(fields, k, strict=True)), "swept": None} for k in keys]
    return {"schema": 1, "selection": "validation", "runs": runs, "tables": {}}


def test_missing_run_is_a_clear_error(tmp_path: Path) -> None:
    _write_run(tmp_path, ("d", "b", "none", "default", 1), 0.3)
    plan = _plan([("d", "b", "none", "default", 1), ("d", "b", "cross", "default", 1)])
    with pytest.raises(DataError, match=r"cross/default/seed1/metrics.json: missing"):
        load_runs(plan, tmp_path)
    # in a study's results, the message names the run's log: it failed (or has not trained)
    runs = tmp_path / "results" / "runs"
    _write_run(runs, ("d", "b", "none", "default", 1), 0.3)
    with pytest.raises(DataError, match=r"has not trained \(no log at .*logs/train/d/b/cross"):
        load_runs(plan, runs)
    log = tmp_path / "results" / "logs" / "train" / "d" / "b" / "cross" / "default" / "seed1.log"
    log.parent.mkdir(parents=True)
    log.write_text("Traceback ...\n")
    with pytest.raises(DataError, match=f"failed or was stopped; its log: {log}"):
        load_runs(plan, runs)


def test_misplaced_run_is_an_error(tmp_path: Path) -> None:
    _write_run(tmp_path, ("d", "b", "none", "default", 1), 0.3)
    target = tmp_path / "d" / "b" / "none" / "default" / "seed2"
    (tmp_path / "d" / "b" / "none" / "default" / "seed1").rename(target)
    with pytest.raises(DataError, match="identity seed=1, expected 2"):
        load_runs(_plan([("d", "b", "none", "default", 2)]), tmp_path)


def test_single_seed_uses_a_per_user_paired_test(tmp_path: Path) -> None:
    base = [0.1, 0.2, 0.0, 0.3, 0.1, 0.2]
    better = [v + 0.1 + 0.01 * i for i, v in enumerate(base)]
    _write_run(tmp_path, ("d", "b", "none", "default", 1), 0.15, base)
    # a run's test metric is the mean of its per-user file (the report checks it)
    _write_run(tmp_path, ("d", "b", "cross", "default", 1), 0.275, better)
    runs = load_runs(
        _plan([("d", "b", "none", "default", 1), ("d", "b", "cross", "default", 1)]), tmp_path
    )
    sig = significance(runs, tmp_path)
    assert sig["test"].item() == "users" and sig["n"].item() == 6 and sig["p"].item() < 0.01
    display, numeric = main_table(runs, sig, [20], ["none", "cross"])
    assert list(display["model"]) == ["b", "+CROSS", "ΔImprov."]
    assert display.loc[1, "R@20"] == "0.2750†"
    assert display.loc[2, "R@20"] == "+83.33%"
    assert numeric.loc[1, "recall@20"] == pytest.approx(0.275)


def test_cells_and_latex() -> None:
    assert cell(0.12345, 0.001, 1) == "0.1235"
    assert cell(0.12345, 0.001, 3, 0.01) == "0.1235 ± 0.0010†"
    assert delta(0.11, 0.10) == "+10.00%"
    layout = Layout("Caption with 50% & a_b", "tab:x")
    tex = to_latex(pd.DataFrame({"a_b": ["1 ± 2"], "Δ%": ["x&y"]}), layout, note="p < 0.05")
    assert r"a\_b" in tex and r"$\Delta$\%" in tex and r"x\&y" in tex and r"$\pm$" in tex
    assert r"\caption{Caption with 50\% \& a\_b}" in tex and r"\label{tab:x}" in tex
    assert tex.count(r"\begin{table}") == tex.count(r"\end{table}") == 1
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 1
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert tex.count(rule) == 1
    assert "p $<$ 0.05" in tex and "nan" not in tex  # math mode: text-mode < is ¡ in OT1


def test_best_in_bold_second_underlined_per_dataset() -> None:
    display = pd.DataFrame(
        {
            "dataset": ["a", "a", "a", "a", "b", "b"],
            "model": ["X", "+FETTLE", "ΔImprov.", "+CROSS", "X", "+CROSS"],
            "R@20": ["0.3000 ± 0.01", "0.3100†", "+9.99%", "0.3050", "0.2000", "0.1000"],
        }
    )
    layout = Layout("c", "l", mark_numeric=True, skip="model", skip_prefixes=("ΔImprov",))
    flags = marks(display, layout)
    assert flags["R@20"].tolist() == ["", "best", "", "second", "best", "second"]
    md = to_markdown(display, layout)
    assert "**0.3100**†" in md and "<u>0.3050</u>" in md and "**+9.99%**" not in md
    assert md.splitlines()[1].endswith("--:|")  # the metric column is right-aligned
    tex = to_latex(display, layout)
    assert r"\textbf{0.3100}$^{\dagger}$" in tex and r"\underline{0.3050}" in tex
    assert "{llr}" in tex
    # the dataset once per group, a rule between the groups
    rows = tex[tex.index("\\midrule") :].splitlines()
    assert [r.split(" & ")[0] for r in rows if " & " in r] == ["a", "", "", "", "b", ""]
    assert tex.count("\\midrule") == 2 and rows[5] == "\\midrule"


def test_marks_and_headers_name_what_a_reader_sees() -> None:
    """Bold and underline on the mean, never on its ± std; csv names become display headers."""
    from crossrec.report.render import header

    display = pd.DataFrame({"dataset": ["a", "a"], "n_seeds": ["3", "3"],
                            "R@20": ["0.3000 ± 0.0100", "0.2000 ± 0.0200"]})  # fmt: skip
    layout = Layout("c", "l", emphasis=("R@20",))
    md = to_markdown(display, layout)
    assert "**0.3000** ± 0.0100" in md and "<u>0.2000</u> ± 0.0200" in md and "n_seeds" not in md
    tex = to_latex(display, layout)
    assert r"\textbf{0.3000} $\pm$ 0.0100" in tex and r"\underline{0.2000} $\pm$" in tex
    assert "seeds &" in tex and "n\\_seeds" not in tex
    assert header("p_adj") == "p (adj.)" and header("test_recall@20") == "test R@20"
    assert header("valid_ndcg@10") == "valid N@10" and header("some_key") == "some key"


def test_latex_maps_every_glyph_or_refuses() -> None:
    from crossrec.report.render import latex_glyphs

    assert latex_glyphs("a − b × c ≤ α") == r"a $-$ b $\times$ c $\leq$ $\alpha$"
    with pytest.raises(ValueError, match="U\\+2603"):
        latex_glyphs("snow ☃")


def test_main_table_stacks_the_std_under_the_mean() -> None:
    from crossrec.report.render import Layout, to_latex

    tex = to_latex(
        pd.DataFrame({"m": ["x"], "R@20": ["0.3142 ± 0.0049†"]}), Layout("c", "l", stack_std=True)
    )
    # a top-aligned inner tabular: the row's other cells sit on the mean's line, not the ±'s
    stacked = (
        r"\begin{tabular}[t]{@{}r@{}}0.3142$^{\dagger}$\\ \scriptsize $\pm$0.0049\end{tabular}"
    )
    assert stacked in tex and "shortstack" not in tex
    marked = to_latex(
        pd.DataFrame({"m": ["x", "y"], "R@20": ["0.3142 ± 0.0049", "0.3 ± 0.1"]}),
        Layout("c", "l", emphasis=("R@20",), stack_std=True),
    )
    assert r"{@{}r@{}}\textbf{0.3142}\\ \scriptsize $\pm$0.0049" in marked


def test_holm_matches_a_worked_example() -> None:
    from crossrec.report.stats import adjust, holm

    # m = 4: sorted 0.01, 0.02, 0.03, 0.04 -> 0.04, 0.06, 0.06 (monotone), 0.06
    assert holm(np.array([0.04, 0.01, 0.03, 0.02])) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm(np.array([0.5, 0.4])) == pytest.approx([0.8, 0.8])
    p = pd.Series([0.04, None, 0.01])
    assert adjust(p, "holm").tolist()[0] == pytest.approx(0.04) and pd.isna(adjust(p, "holm")[1])


def test_user_tests_per_seed_and_on_the_seed_mean(tmp_path: Path) -> None:
    from scipy import stats as sps

    from crossrec.report.stats import user_tests

    rng = np.random.default_rng(0)
    users = list(range(30))
    rows = []
    values = {}
    for plugin in ("none", "cross"):
        for seed in (1, 2):
            v = rng.random(30) + (0.1 if plugin == "cross" else 0)
            values[plugin, seed] = v
            run = tmp_path / "d" / "b" / plugin / "default" / f"seed{seed}"
            run.mkdir(parents=True)
            pd.DataFrame({"user": users, "recall@20": v}).to_csv(run / "test_per_user.csv")
            rows.append({"dataset": "d", "backbone": "b", "plugin": plugin, "variant": "default",
                         "seed": seed, "study": "main"})  # fmt: skip
    out = user_tests(pd.DataFrame(rows), tmp_path)
    assert list(out["seed"]) == [1, 1, 2, 2, "mean", "mean"] and set(out["n"]) == {30}
    t1 = sps.ttest_rel(values["cross", 1], values["none", 1])
    row = out[(out["seed"] == 1) & (out["test"] == "paired t")].iloc[0]
    assert row["statistic"] == pytest.approx(t1.statistic) and row["p"] == pytest.approx(t1.pvalue)
    mean_x = (values["cross", 1] + values["cross", 2]) / 2
    mean_y = (values["none", 1] + values["none", 2]) / 2
    w = sps.wilcoxon(mean_x, mean_y)
    row = out[(out["seed"] == "mean") & (out["test"] == "Wilcoxon")].iloc[0]
    assert row["statistic"] == pytest.approx(w.statistic) and row["p"] == pytest.approx(w.pvalue)
    # the paired effect size on every row: d_z = t / √n of the same users, inside its interval
    t_mean = sps.ttest_rel(mean_x, mean_y).statistic
    assert row["dz"] == pytest.approx(t_mean / np.sqrt(30))
    assert row["dz_low"] < row["dz"] < row["dz_high"]
    first = out[out["seed"] == 1]
    assert first["dz"].tolist() == [pytest.approx(t1.statistic / np.sqrt(30))] * 2


def test_notes_name_the_cut_offs_shown() -> None:
    from crossrec.report.notes import cutoff_note

    assert cutoff_note([10, 20], ("Recall", "NDCG")) == (
        "R@10, R@20, N@10, N@20: Recall, NDCG at 10 and 20 (tables.k). "
    )
    assert cutoff_note([5], ("Recall",)) == "R@5: Recall at 5 (tables.k). "


def test_a_table_too_wide_for_any_float_is_scaled_and_its_note_is_not() -> None:
    """Wider than the text even in \\scriptsize with a narrow \\tabcolsep: the tabular alone
    is scaled to the float's width (the first line says so); the note stays a paragraph."""
    wide = pd.DataFrame({f"column {i}": ["0.123456789"] for i in range(30)})
    tex = to_latex(wide, Layout("c", "l"), note="a note", venue="acm")
    assert tex.splitlines()[0].endswith("scaled to fit; needs \\usepackage{booktabs} and "
                                        "\\usepackage{graphicx}")  # fmt: skip
    assert "\\begin{table*}" in tex and "\\resizebox{\\textwidth}{!}{%" in tex
    assert tex.index("\\end{tabular}}") < tex.index("\\par\\footnotesize a note")
    narrow = to_latex(wide.iloc[:, :2], Layout("c", "l"), venue="acm")
    assert "\\begin{table}" in narrow and "resizebox" not in narrow
