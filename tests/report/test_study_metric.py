"""The metric a study is selected, tested and drawn on: its runs' validation metric."""

from __future__ import annotations

import pandas as pd
import pytest

from crossrec.errors import DataError
from crossrec.report.analysis import study_metric


def _runs(valid_metrics: list[str | None], with_r20: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame({"valid_metric": valid_metrics})
    if with_r20:
        frame["test_recall@20"] = 0.1
    return frame


def test_the_runs_shared_validation_metric() -> None:
    assert study_metric(_runs(["recall@20", "recall@20"])) == "recall@20"
    assert study_metric(_runs(["recall@10", "recall@10"], with_r20=False)) == "recall@10"
    assert study_metric(_runs(["ndcg@20", "ndcg@20"])) == "ndcg@20"


def test_mixed_or_unrecorded_metrics_fall_back_to_the_papers_where_every_run_has_it() -> None:
    assert study_metric(_runs(["recall@10", "ndcg@20"])) == "recall@20"
    assert study_metric(_runs([None, None])) == "recall@20"  # metrics.json before the field


def test_mixed_metrics_without_recall_at_20_are_refused() -> None:
    with pytest.raises(DataError, match="give every run one train.valid_metric"):
        study_metric(_runs(["recall@10", "ndcg@10"], with_r20=False))
