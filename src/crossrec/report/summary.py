"""Every planned run's ``metrics.json`` as one table (``results/tables/runs.csv``).

The plan (``crossrec plan``) lists the runs; each must have a complete ``metrics.json`` whose
identity matches its folder: a missing, failed or misplaced run is an error, never an empty cell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crossrec.errors import DataError
from crossrec.io import regular_file
from crossrec.run import IDENTITY, RunKey, read_metrics
from crossrec.safeload import read_json
from crossrec.schemas import check_document


def read_plan(path: str | Path) -> dict[str, Any]:
    """Load ``plan.json`` (written by ``crossrec plan``)."""
    path = Path(path)
    plan = read_json(path, "run `crossrec plan` / the workflow's plan rule")
    check_document(plan, "plan", path)
    return plan


def run_folder(runs_root: Path, row: dict[str, Any]) -> Path:
    """``runs_root/{dataset}/{backbone}/{plugin}/{variant}/seed{seed}`` (:meth:`RunKey.path`)."""
    return runs_root / RunKey(**{f: row[f] for f in IDENTITY}).path()


def load_runs(plan: dict[str, Any], runs_root: str | Path) -> pd.DataFrame:
    """One row per planned (study, run): identity, sweep, cost, the validation metric that chose
    its best epoch (``valid_metric``), ``valid_*`` and ``test_*``."""
    runs_root = Path(runs_root)
    rows, seen = [], set()
    for entry in plan["runs"]:
        key = (entry.get("study"), *(entry.get(f) for f in IDENTITY))
        if key in seen:
            raise DataError(Path("plan.json"), f"lists run {'/'.join(map(str, key))} twice")
        seen.add(key)
        path = run_folder(runs_root, entry) / "metrics.json"
        if not path.exists():
            raise DataError(path, f"missing: {log_hint(runs_root, entry)}")
        blob = read_metrics(path)
        ident = blob["identity"]
        for field in IDENTITY:
            if ident.get(field) != entry[field]:
                raise DataError(
                    path, f"identity {field}={ident.get(field)!r}, expected {entry[field]!r}"
                )
        swept = entry.get("swept") or [None, None]
        row = {
            "study": entry["study"],
            **{f: entry[f] for f in IDENTITY},
            "swept_param": swept[0],
            "swept_value": swept[1],
            "best_epoch": blob["best_epoch"],
            "epochs_run": blob.get("epochs_run"),
            "seconds_per_epoch": blob.get("cost", {}).get("seconds_per_epoch"),
            "peak_memory_mb": blob.get("cost", {}).get("peak_memory_mb"),
            "valid_metric": blob.get("valid_metric"),
        }
        row.update({f"valid_{k}": v for k, v in blob["valid"].items()})
        row.update({f"test_{k}": v for k, v in blob["test"].items()})
        rows.append(row)
    if not rows:
        raise DataError(Path("plan.json"), "plans no runs")
    return pd.DataFrame(rows)


def log_hint(runs_root: Path, row: dict[str, Any]) -> str:
    """Where a run's training log is, said for a run without its outputs: the workflow's
    ``<results>/logs/train/<run>.log`` beside ``<results>/runs``."""
    key = RunKey(**{f: row[f] for f in IDENTITY}).path()
    log = runs_root.parent / "logs" / "train" / f"{key}.log"
    if log.is_file():
        return f"the run failed or was stopped; its log: {log}"
    return f"the run has not trained (no log at {log}); run the workflow or `crossrec train`"


PER_USER_TOLERANCE = 1e-4  # per-user values are written rounded; their mean is the run's metric


def per_user(runs_root: str | Path, row: dict[str, Any], metric: str) -> pd.Series:
    """A run's per-test-user ``metric`` at its best-valid epoch, indexed by user id."""
    return per_user_file(
        run_folder(Path(runs_root), row) / "test_per_user.csv", metric, row.get(f"test_{metric}")
    )


def per_user_file(path: Path, metric: str, expected: float | None = None) -> pd.Series:
    """A ``test_per_user.csv``'s ``metric`` by user id; DataError naming the file when it is
    missing, malformed, or (given the run's ``expected`` test value) not that run's."""
    if not path.exists():
        raise DataError(path, "missing (rerun the training job)")
    try:
        df = pd.read_csv(regular_file(path))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(path, f"cannot read as CSV ({str(err).splitlines()[0]})") from None
    if metric not in df.columns or "user" not in df.columns:
        raise DataError(path, f"no 'user' and {metric!r} columns")
    users = pd.to_numeric(df["user"], errors="coerce")
    values = pd.to_numeric(df[metric], errors="coerce")
    if users.isna().any() or (users != users.round()).any():
        raise DataError(
            path, f"line {int(users.isna().to_numpy().argmax()) + 2}: user is not an id"
        )
    if values.isna().any() or not np.isfinite(values.to_numpy(dtype=float)).all():
        bad = int((values.isna() | ~np.isfinite(values.astype(float))).to_numpy().argmax()) + 2
        raise DataError(path, f"line {bad}: {metric} is not a finite number")
    if users.duplicated().any():
        raise DataError(path, f"user {int(users[users.duplicated()].iloc[0])} listed twice")
    if expected is not None and abs(float(values.mean()) - float(expected)) > PER_USER_TOLERANCE:
        raise DataError(
            path,
            f"its {len(values)} users' mean {metric} {values.mean():.6f} is not the run's test "
            f"{metric} {float(expected):.6f} (metrics.json): truncated, edited or another run's",
        )
    return pd.Series(values.to_numpy(dtype=float), index=users.astype(int).to_numpy(), name=metric)


def same_users(a: pd.Series, b: pd.Series, where: str) -> None:
    """DataError unless two runs' per-user files list the same test users (one split)."""
    if not a.index.equals(b.index) and set(a.index) != set(b.index):
        only = sorted(set(a.index) ^ set(b.index))[:3]
        raise DataError(
            Path(where),
            f"the compared runs' test_per_user.csv list different users (e.g. {only}): "
            "not one split, or a file is truncated",
        )
