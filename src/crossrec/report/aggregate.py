"""Collect ``metrics.json`` files into one table of test metrics per run.

Every requested file must exist and follow the schema: a missing or failed run is an error, never
a silently empty row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from crossrec.errors import DataError
from crossrec.experiment import IDENTITY
from crossrec.io import read_json
from crossrec.schemas import check_document
from crossrec.train import METRICS_SCHEMA_VERSION

TABLE_METRICS = ("recall", "ndcg", "precision")


def read_metrics(path: str | Path) -> dict[str, Any]:
    """Load and check one ``metrics.json``."""
    path = Path(path)
    blob = read_json(path, "did the run fail?")
    if isinstance(blob, dict) and blob.get("schema") != METRICS_SCHEMA_VERSION:
        raise DataError(path, f"schema {blob.get('schema')!r}, expected {METRICS_SCHEMA_VERSION}")
    check_document(blob, "metrics", path)
    return blob


def collect(paths: Sequence[str | Path], ks: Sequence[int] = (5, 10, 20)) -> pd.DataFrame:
    """One row per run: identity, best epoch, test ``Recall/NDCG/Precision@K`` for K in ``ks``."""
    rows = []
    for path in paths:
        blob = read_metrics(path)
        row: dict[str, Any] = {k: blob["identity"][k] for k in IDENTITY}
        row["best_epoch"] = blob["best_epoch"]
        for metric in TABLE_METRICS:
            for k in ks:
                name = f"{metric}@{k}"
                if name not in blob["test"]:
                    raise DataError(path, f"test metrics lack {name}")
                row[name] = blob["test"][name]
        rows.append(row)
    if not rows:
        raise ValueError("no metrics files given")
    return pd.DataFrame(rows).sort_values(list(IDENTITY), kind="stable").reset_index(drop=True)
