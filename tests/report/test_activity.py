"""The main comparison by user activity: quartiles of the test users' train interactions, each
with the plug-in's and the backbone's seed-mean test metric, ΔImprov. and a corrected paired
test — a gain confined to the sparse users shows there and only there."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import write_mmrec
from test_published import _metrics

from crossrec.report.activity import activity_groups, activity_rows
from crossrec.report.analysis import analyse
from crossrec.report.stats import select
from crossrec.report.summary import load_runs

USERS = 40


def _study(tmp_path: Path) -> tuple[pd.DataFrame, Path]:
    """User u has u + 1 train interactions; the plug-in adds 0.2 to the 10 sparsest users'
    recall and nothing to the others."""
    data = tmp_path / "data" / "d"
    rows = [(u, i, 0) for u in range(USERS) for i in range(u + 1)]
    rows += [(u, 100 + u, 2) for u in range(USERS)]
    write_mmrec(data, rows, name="d")
    keys = []
    for plugin in ("none", "fettle"):
        for seed in (1, 2):
            recall = [0.3 + (0.2 if plugin == "fettle" and u < 10 else 0.0) + 0.01 * (u % 3)
                      for u in range(USERS)]  # fmt: skip
            mean = sum(recall) / USERS
            key = ("d", "freedom", plugin, "default", seed)
            folder = _metrics(tmp_path / "runs", key, mean, mean)
            pd.DataFrame({"user": range(USERS), "recall@20": recall}).to_csv(
                folder / "test_per_user.csv", index=False
            )
            keys.append(key)
    fields = ("dataset", "backbone", "plugin", "variant", "seed")
    plan = {"schema": 1, "selection": "validation", "tables": {},
            "runs": [{"study": "main", **dict(zip(fields, k, strict=True)), "swept": None}
                     for k in keys]}  # fmt: skip
    return load_runs(plan, tmp_path / "runs"), tmp_path / "data"


def test_quartiles_by_train_interactions() -> None:
    groups = activity_groups(pd.Series(range(1, 41), index=range(40)))
    assert groups.value_counts().to_dict() == {"Q1": 10, "Q2": 10, "Q3": 10, "Q4": 10}
    assert groups.iloc[0] == "Q1" and groups.iloc[-1] == "Q4"


@pytest.mark.filterwarnings("ignore:Precision loss occurred")  # equal per-seed differences
def test_a_gain_for_sparse_users_shows_in_q1_only(tmp_path: Path) -> None:
    runs, data = _study(tmp_path)
    analysis = analyse(runs, select(runs), tmp_path / "runs", "bonferroni")
    rows = activity_rows(analysis.chosen, tmp_path / "runs", data, "bonferroni")
    assert rows["activity"].tolist() == ["Q1", "Q2", "Q3", "Q4"]
    assert rows["n"].tolist() == [10, 10, 10, 10]
    assert rows["train_interactions"].tolist() == ["1–10", "11–20", "21–30", "31–40"]
    q1 = rows.iloc[0]
    assert q1["plugin_mean"] - q1["none"] == pytest.approx(0.2)
    assert q1["p"] < 0.01 and q1["p_adj"] == pytest.approx(min(1.0, 4 * q1["p"]))
    assert (rows["improvement"].iloc[1:] == 0).all() and (rows["p"].iloc[1:] == 1.0).all()
