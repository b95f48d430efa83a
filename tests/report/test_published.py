"""Multiple-comparison correction of the main table and the papers' numbers beside ours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_metrics
from scipy import stats

from crossrec.report.analysis import analyse
from crossrec.report.published import load_published, paper_vs_ours
from crossrec.report.stats import adjust
from crossrec.report.summary import load_runs
from crossrec.report.tables import build_tables, main_table


def test_bh_equals_scipy_and_keeps_missing() -> None:
    p = pd.Series([0.0196, 0.0062, np.nan, 0.3701, 0.2625, 0.1838, 0.1144])
    got = adjust(p, "bh")
    present = p.notna()
    expected = stats.false_discovery_control(p[present].to_numpy(), method="bh")
    np.testing.assert_allclose(got[present].to_numpy(), expected)
    assert np.isnan(got[2])
    assert got[0] == pytest.approx(0.0196 * 6 / 2)  # rank 2 of 6, below the next ratio
    np.testing.assert_allclose(adjust(p, "bonferroni")[present], np.minimum(1, p[present] * 6))
    pd.testing.assert_series_equal(adjust(p, "none"), p)
    with pytest.raises(ValueError, match="correction"):
        adjust(p, "sidak")


def test_dagger_follows_the_corrected_p_value() -> None:
    chosen = pd.DataFrame(
        {
            "dataset": "d",
            "backbone": "b",
            "plugin": ["none", "none", "cross", "cross"],
            "variant": "default",
            "seed": [1, 2, 1, 2],
            "test_recall@20": [0.10, 0.11, 0.20, 0.21],
        }
    )
    chosen["test_ndcg@20"] = chosen["test_recall@20"] / 2
    chosen["test_precision@20"] = chosen["test_recall@20"] / 10
    raw = pd.DataFrame(
        {"dataset": ["d"], "backbone": ["b"], "plugin": ["cross"], "test": "seeds", "n": 2,
         "p": [0.03]}
    )  # fmt: skip
    shown, _ = main_table(chosen.copy(), raw.assign(p_adj=0.03), [20], ["none", "cross"])
    assert shown.loc[1, "R@20"].endswith("†")
    shown, numeric = main_table(chosen.copy(), raw.assign(p_adj=0.09), [20], ["none", "cross"])
    assert not shown.loc[1, "R@20"].endswith("†")
    assert numeric.loc[1, "p"] == 0.03 and numeric.loc[1, "p_adj"] == 0.09


def test_published_numbers_are_the_papers() -> None:
    pub = load_published()
    assert len(pub) == 168 and set(pub["paper"]) == {"FETTLE", "CROSS"}
    assert not pub.duplicated(["paper", "dataset", "backbone", "plugin", "metric"]).any()

    def value(paper, dataset, backbone, plugin, metric):
        row = pub[
            (pub["paper"] == paper)
            & (pub["dataset"] == dataset)
            & (pub["backbone"] == backbone)
            & (pub["plugin"] == plugin)
            & (pub["metric"] == metric)
        ]
        return row["value"].item()

    assert value("FETTLE", "baby", "bpr", "none", "recall@20") == 0.0595
    assert value("FETTLE", "clothing", "freedom", "fettle", "ndcg@20") == 0.0435
    assert value("FETTLE", "sports", "sgl", "fettle", "recall@20") == 0.1057
    assert value("CROSS", "tiktok", "freedom", "cross", "precision@5") == 0.0083
    assert value("CROSS", "baby", "ncl", "fettle", "ndcg@5") == 0.0231
    noted = pub[pub["note"] != ""]
    assert set(zip(noted["dataset"], noted["backbone"], noted["plugin"], strict=True)) == {
        ("clothing", "ncl", "none")
    }


def _metrics(root: Path, key: tuple, recall20: float, recall5: float) -> Path:
    test = {"recall@20": recall20, "ndcg@20": recall20 / 2, "precision@20": recall20 / 10}
    test |= {"recall@5": recall5, "ndcg@5": recall5 / 2, "precision@5": recall5 / 5}
    test |= {"recall@10": recall5 * 1.5, "ndcg@10": recall5}
    return write_metrics(root, key, {"recall@20": recall20}, test)


def _study(root: Path, dataset: str) -> pd.DataFrame:
    keys = []
    for plugin, base in (("none", 0.05), ("fettle", 0.06), ("cross", 0.07)):
        for seed in (1, 2):
            key = (dataset, "freedom", plugin, "default", seed)
            folder = _metrics(root, key, base + 0.001 * seed, base / 2)
            users = pd.DataFrame(
                # per-user values whose mean is the run's test recall@20 (the report checks it)
                {
                    "user": range(20),
                    "recall@20": [base + 0.001 * seed + (u % 5 - 2) / 100 for u in range(20)],
                }  # fmt: skip
            )
            users.to_csv(folder / "test_per_user.csv", index=False)  # the per-user tests read it
            keys.append(key)
    fields = ("dataset", "backbone", "plugin", "variant", "seed")
    runs = [{"study": "main", **dict(zip(fields, k, strict=True)), "swept": None} for k in keys]
    plan = {"schema": 1, "selection": "validation", "runs": runs, "tables": {}}
    return load_runs(plan, root)


def test_paper_vs_ours_on_a_fixture_named_baby(tmp_path: Path) -> None:
    runs = _study(tmp_path, "baby")
    display, numeric, note = paper_vs_ours(runs)
    fettle = numeric[(numeric["plugin"] == "fettle") & (numeric["metric"] == "recall@20")]
    assert fettle["published"].item() == 0.1029  # FETTLE Table 2, Baby FREEDOM
    assert fettle["ours"].item() == pytest.approx(0.0615)  # mean of 0.061 and 0.062
    assert fettle["difference"].item() == pytest.approx(0.0615 - 0.1029)
    assert fettle["n_seeds"].item() == 2
    cross5 = numeric[(numeric["plugin"] == "cross") & (numeric["metric"] == "recall@5")]
    assert cross5["published"].item() == 0.0408 and cross5["source"].item() == "CROSS README"
    # every published FREEDOM/Baby number the study has: 2 (FETTLE) x 2 plug-ins + 3 x 3 (CROSS)
    assert len(numeric) == 4 + 9
    assert list(display.columns) == ["dataset", "model", "metric", "published", "ours", "Δ",
                                     "source"]  # fmt: skip
    assert display["model"].tolist()[:2] == ["FREEDOM", "FREEDOM"]
    assert "mean ± std" in note


def test_paper_vs_ours_is_empty_with_a_note_elsewhere(tmp_path: Path) -> None:
    display, numeric, note = paper_vs_ours(_study(tmp_path, "ml100k"))
    assert display.empty and numeric.empty and "baby, sports, clothing, tiktok" in note


@pytest.mark.filterwarnings("ignore:Precision loss occurred")  # equal per-seed differences
def test_tables_have_no_nan_and_say_what_the_dagger_means(tmp_path: Path) -> None:
    runs = _study(tmp_path / "runs", "Baby")  # any case matches the paper's dataset
    from crossrec.report.stats import select

    out = tmp_path / "tables"
    analysis = analyse(runs, select(runs), tmp_path / "runs", "bonferroni")
    build_tables(analysis, [5, 20], ["none", "fettle", "cross"], {"freedom": "multi-modal"}, out)
    for name in ("selection", "main", "paper_vs_ours", "table2"):
        text = (out / f"{name}.md").read_text()
        assert "nan" not in text and "<NA>" not in text, name
    assert "Bonferroni correction across the 2 tests" in (out / "main.md").read_text()
    assert "–" in (out / "selection.md").read_text()  # the none rows have no test
    vs = pd.read_csv(out / "paper_vs_ours.csv")
    assert set(vs["dataset"]) == {"Baby"} and len(vs) == 13
