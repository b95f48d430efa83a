"""The notes under the tables: seed counts, what † means, which cut-offs the columns are."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from crossrec.report.analysis import ALPHA, seeds_text
from crossrec.report.render import short
from crossrec.report.stats import CORRECTIONS, GROUP


def seed_counts(chosen: pd.DataFrame) -> str:
    """:func:`seeds_text` of the seeds per group of ``chosen``."""
    return seeds_text(chosen.groupby(GROUP, sort=False)["seed"].nunique())


def cutoff_note(ks: Sequence[int], metrics: Sequence[str]) -> str:
    """What the columns are: ``"R@10, R@20: Recall at 10 and 20 (tables.k). "``."""
    names = [short(f"{m.lower()}@{k}") for m in metrics for k in ks]
    at = ", ".join(map(str, ks[:-1])) + " and " + str(ks[-1]) if len(ks) > 1 else str(ks[0])
    return f"{', '.join(names)}: {', '.join(metrics)} at {at} (tables.k). "


def significance_note(
    pvalues: pd.DataFrame, correction: str, n: str = "", metric: str = "recall@20"
) -> str:
    """What the cells and † mean in the main table: ``n`` (:func:`seed_counts`), the test of
    ``metric`` (the study's, :func:`crossrec.report.analysis.study_metric`), the correction and
    how many tests."""
    m = int(pvalues["p"].notna().sum()) if "p" in pvalues else 0
    kinds = sorted(set(pvalues.get("test", pd.Series(dtype=str)).dropna()))
    over = " / ".join({"seeds": "seeds", "users": "test users"}[k] for k in kinds) or "seeds"
    return (
        f"Mean ± sample std over seeds{f' ({n})' if n else ''}. † test {short(metric)} "
        "differs from the backbone "
        f"alone by a two-sided paired t-test over {over}, p < {ALPHA} after "
        f"{CORRECTIONS[correction]} correction across the {m} tests of this table."
    )
