"""benchmarks/halving_regret.py replays successive halving on an exhaustive search's curves: a
slow starter that an early first rung cuts costs regret, a later first rung keeps it; τ is
Kendall's between the first rung's ranking and the final one."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crossrec.study.halving import Halving

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    "halving_regret", ROOT / "benchmarks" / "halving_regret.py"
)
regret = importlib.util.module_from_spec(spec)
spec.loader.exec_module(regret)


def _search() -> pd.DataFrame:
    """Nine candidates: eight fast starters that plateau at 0.30–0.37, one slow starter that
    overtakes them after epoch 12 and ends best (test metric = final validation + 0.01)."""
    epochs = np.arange(1, 41)
    curves = [np.minimum(0.30 + 0.01 * i, 0.1 * epochs) for i in range(8)]
    curves.append(0.02 * epochs)  # 0.24 at epoch 12, 0.80 at 40
    rows = [{"variant": f"v{i}", "curve": c, "valid": float(c.max()), "test": float(c.max()) + 0.01,
             "epochs": 40} for i, c in enumerate(curves)]  # fmt: skip
    return pd.DataFrame(rows)


def test_an_early_first_rung_cuts_the_slow_starter() -> None:
    cands = _search()
    early = regret.replay(cands, Halving(3, 5), max_epochs=40)
    assert early["exhaustive_winner"] == "v8" and early["winner"] == "v7"
    assert early["regret"] == pytest.approx(0.80 - 0.37)
    assert early["epochs"] < early["exhaustive_epochs"] == 9 * 40
    late = regret.replay(cands, Halving(3, 20), max_epochs=40)
    assert late["winner"] == "v8" and late["regret"] == 0.0
    # at the 5-epoch rung the slow starter ranks last and the others in their final order
    assert 0 < early["kendall_tau"] < 1 and late["kendall_tau"] == pytest.approx(1.0)
