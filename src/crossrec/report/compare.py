"""Hand-trained runs compared without a plan (``crossrec compare RUN_DIR…``).

The first folder is the baseline. For every run: its identity and test metrics (``metrics.json``);
for every other run against the baseline, over the test users of their ``test_per_user.csv``
(one split: the same users), the paired t-test and the Wilcoxon signed-rank test of ``metric``
(:func:`crossrec.report.stats.paired_user_test`), each test's p corrected across the
comparisons (``correction``, :func:`crossrec.report.stats.adjust`), and the paired effect size
d_z with its 95 % interval (:func:`crossrec.report.effects.standardized_effect`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from crossrec.errors import DataError
from crossrec.report.effects import standardized_effect
from crossrec.report.stats import USER_TESTS, adjust_within, paired_user_test
from crossrec.report.summary import per_user_file, same_users
from crossrec.run import IDENTITY, read_metrics


def run_row(folder: Path) -> dict[str, object]:
    """A run folder's identity, best epoch and test metrics (``test_<metric>``); DataError
    naming ``metrics.json`` when the folder holds no finished run."""
    path = folder / "metrics.json"
    if not path.exists():
        raise DataError(path, "missing: not a finished run (its training failed, was stopped, "
                              "or it was never trained; its log is where its output went)")  # fmt: skip
    blob = read_metrics(path)
    return (
        {"run": str(folder)}
        | {f: blob["identity"][f] for f in IDENTITY}
        | {"best_epoch": blob["best_epoch"]}
        | {f"test_{k}": v for k, v in blob["test"].items()}
    )


def compare(
    folders: Sequence[Path], metric: str = "recall@20", correction: str = "bh"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, tests) frames of the module docstring; DataError when fewer than two runs are
    given, when a run lacks ``metric``, or when runs of different datasets are compared."""
    if len(folders) < 2:
        raise DataError(Path(folders[0] if folders else "."), "compare needs two runs or more")
    runs = pd.DataFrame([run_row(Path(f)) for f in folders])
    if f"test_{metric}" not in runs or runs[f"test_{metric}"].isna().any():
        raise DataError(Path(folders[0]), f"not every run has a test {metric}")
    base = runs.iloc[0]
    base_users = per_user_file(Path(folders[0]) / "test_per_user.csv", metric,
                               base[f"test_{metric}"])  # fmt: skip
    rows = []
    for i in range(1, len(runs)):
        other = runs.iloc[i]
        if other["dataset"] != base["dataset"]:
            raise DataError(
                Path(folders[i]) / "metrics.json",
                f"dataset {other['dataset']!r}, the baseline's is {base['dataset']!r}: "
                "runs are compared over the same test users",
            )
        users = per_user_file(Path(folders[i]) / "test_per_user.csv", metric,
                              other[f"test_{metric}"])  # fmt: skip
        same_users(users, base_users, f"{folders[i]} vs {folders[0]}")
        shared = base_users.index.intersection(users.index)
        a, b = users[shared].to_numpy(), base_users[shared].to_numpy()
        dz, low, high = standardized_effect(a, b)
        for test in USER_TESTS:
            statistic, p = paired_user_test(test, a, b)
            rows.append(
                {"run": other["run"], "baseline": base["run"], "metric": metric, "test": test}
                | {"n": len(a), "mean_diff": float((a - b).mean()), "statistic": statistic}
                | {"p": p, "dz": dz, "dz_low": low, "dz_high": high}
            )
    tests = pd.DataFrame(rows)
    tests["p_adj"] = adjust_within(tests, "test", correction)
    return runs, tests
