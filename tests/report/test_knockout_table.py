"""The modality knock-out table: per model and modality set the seed mean ± SD, the change
against all modalities and the plug-in's ΔImprov. on the same modalities, each with a paired
test (scipy's) corrected across the table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_published import _metrics

from crossrec.report.knockout import knockout, knockout_rows
from crossrec.report.stats import adjust
from crossrec.report.summary import load_runs

# test recall@20 by (dataset, plug-in) and seed: text alone nearly as good, image alone worse
RECALL = {
    ("d", "none"): [0.300, 0.310, 0.305],
    ("d", "fettle"): [0.330, 0.338, 0.331],
    ("d-only-text", "none"): [0.296, 0.309, 0.300],
    ("d-only-text", "fettle"): [0.320, 0.331, 0.322],
    ("d-only-image", "none"): [0.200, 0.215, 0.205],
    ("d-only-image", "fettle"): [0.201, 0.212, 0.209],
}
SUBSETS = {"d-only-image": {"dataset": "d", "kept": ["image"]},
           "d-only-text": {"dataset": "d", "kept": ["text"]}}  # fmt: skip


def _runs(root: Path) -> pd.DataFrame:
    rows = []
    for (dataset, plugin), values in RECALL.items():
        for seed, value in enumerate(values, start=1):
            key = (dataset, "freedom", plugin, "default", seed)
            _metrics(root, key, value, value / 2)
            fields = ("dataset", "backbone", "plugin", "variant", "seed")
            rows.append({"study": "knockout", **dict(zip(fields, key, strict=True))})
            if dataset == "d":
                rows.append({"study": "main", **dict(zip(fields, key, strict=True))})
    return load_runs({"schema": 1, "selection": "validation", "runs": rows}, root)


def test_rows_means_changes_and_corrected_tests(tmp_path: Path) -> None:
    rows = knockout_rows(_runs(tmp_path), SUBSETS, tmp_path, "bh")
    # all modalities first, then the subsets as the plan lists them; none before the plug-in
    assert list(zip(rows["modalities"], rows["plugin"], strict=True)) == [
        ("all", "none"), ("all", "fettle"), ("image", "none"), ("image", "fettle"),
        ("text", "none"), ("text", "fettle"),
    ]  # fmt: skip
    assert set(rows["dataset"]) == {"d"} and rows["n"].tolist() == [3] * 6
    text = rows[(rows["modalities"] == "text") & (rows["plugin"] == "fettle")].iloc[0]
    full = np.array(RECALL[("d", "fettle")])
    sub = np.array(RECALL[("d-only-text", "fettle")])
    assert text["recall@20"] == pytest.approx(sub.mean())
    assert text["recall@20_std"] == pytest.approx(sub.std(ddof=1))
    assert text["ndcg@20"] == pytest.approx(sub.mean() / 2)
    assert text["vs_all"] == pytest.approx((sub.mean() - full.mean()) / full.mean())
    assert text["p_all"] == pytest.approx(stats.ttest_rel(sub, full).pvalue)
    alone = np.array(RECALL[("d-only-text", "none")])
    assert text["improvement"] == pytest.approx((sub.mean() - alone.mean()) / alone.mean())
    assert text["p_none"] == pytest.approx(stats.ttest_rel(sub, alone).pvalue)
    # nothing to compare: all-modality rows have no Δ vs all, backbone rows no ΔImprov.
    assert rows.loc[rows["modalities"] == "all", "p_all"].isna().all()
    assert rows.loc[rows["plugin"] == "none", "p_none"].isna().all()
    # both comparisons corrected together: 4 vs-all tests + 3 vs-none tests
    both = pd.concat([rows["p_all"], rows["p_none"]], ignore_index=True)
    assert both.notna().sum() == 7
    expected = adjust(both, "bh")
    assert rows["p_all_adj"].tolist() == pytest.approx(expected[:6].tolist(), nan_ok=True)
    assert rows["p_none_adj"].tolist() == pytest.approx(expected[6:].tolist(), nan_ok=True)


def test_display_and_note(tmp_path: Path) -> None:
    display, numeric, note = knockout(_runs(tmp_path), SUBSETS, tmp_path, "holm")
    assert display.columns.tolist() == ["dataset", "model", "modalities", "n", "R@20", "N@20",
                                        "Δ vs all", "p_adj (vs all)", "ΔImprov.",
                                        "p_adj (vs none)"]  # fmt: skip
    assert display["model"].tolist()[:2] == ["FREEDOM", "FREEDOM +FETTLE"]
    assert display["R@20"].iloc[0] == f"{np.mean(RECALL[('d', 'none')]):.4f} ± " + (
        f"{np.std(RECALL[('d', 'none')], ddof=1):.4f}"
    )
    assert "Holm across the table's 7 tests" in note
    assert len(numeric) == 6


def test_no_knockout_is_said_not_faked(tmp_path: Path) -> None:
    runs = _runs(tmp_path)
    display, numeric, note = knockout(runs[runs["study"] == "main"], {}, tmp_path, "bh")
    assert numeric.empty and note.startswith("No knock-out study")


def test_one_seed_tests_read_each_runs_own_per_user_file(tmp_path: Path) -> None:
    """With one seed the tests run over the test users: each knock-out run's per-user file is
    read from its own folder (``d-only-text/…``), not the full dataset's run of the same name
    (a report that did so refused its own study: the means differ)."""
    runs = _runs(tmp_path)
    per_user = {}
    for (dataset, plugin), values in RECALL.items():
        folder = tmp_path / dataset / "freedom" / plugin / "default" / "seed1"
        users = values[0] + np.array([(u % 5 - 2) / 100 for u in range(20)])
        pd.DataFrame({"user": range(20), "recall@20": users}).to_csv(
            folder / "test_per_user.csv", index=False
        )
        per_user[dataset, plugin] = users
    one = runs[runs["seed"] == 1]
    rows = knockout_rows(one, SUBSETS, tmp_path, "none")
    text = rows[(rows["modalities"] == "text") & (rows["plugin"] == "fettle")].iloc[0]
    sub, full = per_user["d-only-text", "fettle"], per_user["d", "fettle"]
    assert text["p_all"] == pytest.approx(stats.ttest_rel(sub, full).pvalue)
    alone = per_user["d-only-text", "none"]
    assert text["p_none"] == pytest.approx(stats.ttest_rel(sub, alone).pvalue)


def test_a_study_on_ndcg_at_10_shows_and_tests_it(tmp_path: Path) -> None:
    display, numeric, note = knockout(_runs(tmp_path), SUBSETS, tmp_path, "bh", "ndcg@10")
    assert display.columns.tolist()[4:6] == ["N@10", "R@10"]
    assert "of the mean N@10" in note
    text = numeric[(numeric["modalities"] == "text") & (numeric["plugin"] == "fettle")].iloc[0]
    sub = np.array(RECALL[("d-only-text", "fettle")]) / 2  # _metrics: ndcg@10 = recall@5
    full = np.array(RECALL[("d", "fettle")]) / 2
    assert text["ndcg@10"] == pytest.approx(sub.mean())
    assert text["p_all"] == pytest.approx(stats.ttest_rel(sub, full).pvalue)
