"""What successive halving costs in quality, measured on an exhaustive search.

A halving finalist trains to the same result as the same run never paused (tests/study/
test_stages.py), and a candidate's best-so-far validation value at a rung's budget is in its
``history.csv``, so every halving schedule can be replayed exactly on the runs of one
exhaustive (``search: grid``) tune or align stage — no training. Per search and schedule:

* **regret** = test metric of the exhaustive winner − test metric of the halving winner (both at
  their best-validation epoch; 0 when halving keeps the winner);
* **Kendall's τ** (``scipy.stats.kendalltau``) between the candidates' ranking at the first
  rung (best-so-far validation value at its budget) and their final ranking;
* the epochs trained, against the exhaustive search's.

    python benchmarks/halving_regret.py --selections results/selections --runs results/runs \\
        --out benchmarks/results/halving_regret.json

The schedules: η = 3 with first rungs of 5, 10 and 20 epochs, and first rungs of a quarter and
a half of the search's median epochs-to-stop (the patience-bounded budget). Writes JSON; prints
one line per search and schedule.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from crossrec.run import read_metrics
from crossrec.study.files import Selection
from crossrec.study.halving import Halving, rung_sizes
from crossrec.study.selection import best, survivors

METRIC = "recall@20"
ETA = 3
FIXED = (5, 10, 20)
FRACTIONS = (0.25, 0.5)


def candidates(selection: Path, runs: Path) -> pd.DataFrame:
    """An exhaustive search's candidates in grid order: variant, per-epoch validation curve,
    final best validation value, test metric, epochs run."""
    sel = Selection.read(selection)
    if any("stopped_at_rung" in c for c in sel.candidates):
        raise SystemExit(f"{selection}: not an exhaustive search (halving stopped candidates)")
    rows = []
    for c in sel.candidates:
        folder = runs / c["run"]
        curve = pd.read_csv(folder / "history.csv")[f"valid_{METRIC}"].to_numpy()
        blob = read_metrics(folder / "metrics.json")
        rows.append(
            {
                "variant": c["variant"],
                "curve": curve,
                "valid": blob["valid"][METRIC],
                "test": blob["test"][METRIC],
                "epochs": int(blob["epochs_run"]),
            }  # fmt: skip
        )
    return pd.DataFrame(rows)


def best_so_far(curve: np.ndarray, epochs: int) -> float:
    """The best validation value within the first ``epochs`` epochs (a run that stopped earlier:
    its best)."""
    return float(np.max(curve[:epochs])) if len(curve) else float("nan")


def replay(cands: pd.DataFrame, halving: Halving, max_epochs: int) -> dict[str, Any]:
    """Successive halving of ``cands`` (:func:`crossrec.study.halving.rung_sizes`, the cut of
    :func:`crossrec.study.selection.survivors`): winner, regret, τ, epochs trained."""
    alive = list(range(len(cands)))
    sizes, _ = rung_sizes(halving, len(alive), max_epochs)
    trained = np.zeros(len(cands))
    first = None
    for rung in range(len(sizes)):
        budget = halving.rung_epochs(rung)
        scores = [(i, best_so_far(cands["curve"][i], budget)) for i in alive]
        if first is None:
            first = [best_so_far(c, budget) for c in cands["curve"]]
        kept = survivors([(str(i), s) for i, s in scores], halving.eta)
        for i in alive:
            trained[i] = min(budget, cands["epochs"][i])
        alive = [int(i) for i in kept]
    for i in alive:
        trained[i] = cands["epochs"][i]
    winner = int(best([(str(i), cands["valid"][i]) for i in alive])[0])
    exhaustive = int(best([(str(i), v) for i, v in enumerate(cands["valid"])])[0])
    tau = float("nan")
    if first is not None and len(cands) > 2:
        tau = float(stats.kendalltau(first, cands["valid"]).statistic)
    return {
        "first_rung": halving.min_epochs,
        "rungs": len(sizes),
        "winner": cands["variant"][winner],
        "exhaustive_winner": cands["variant"][exhaustive],
        "regret": float(cands["test"][exhaustive] - cands["test"][winner]),
        "kendall_tau": tau,
        "epochs": int(trained.sum()),
        "exhaustive_epochs": int(cands["epochs"].sum()),
    }


def schedules(cands: pd.DataFrame) -> list[tuple[str, Halving]]:
    """The replayed schedules (module docstring)."""
    median = float(np.median(cands["epochs"]))
    out = [(f"first rung {e}", Halving(ETA, e)) for e in FIXED]
    out += [
        (
            f"first rung {f:g} x median stop ({max(1, math.ceil(f * median))})",
            Halving(ETA, max(1, math.ceil(f * median))),
        )  # fmt: skip
        for f in FRACTIONS
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    """Replay every exhaustive tune/align search below ``--selections``; write ``--out``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--selections", type=Path, required=True)
    p.add_argument("--runs", type=Path, required=True)
    p.add_argument("--max-epochs", type=int, required=True, help="the study's train.epochs")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    results = []
    files = sorted(args.selections.rglob("tune.yaml")) + sorted(args.selections.rglob("align.yaml"))
    for path in files:
        cands = candidates(path, args.runs)
        search = str(path.relative_to(args.selections).with_suffix(""))
        for name, halving in schedules(cands):
            row = {"search": search, "candidates": len(cands), "schedule": name,
                   **replay(cands, halving, args.max_epochs)}  # fmt: skip
            results.append(row)
            print(f"{search:32s} {name:36s} regret {row['regret']:+.4f} "
                  f"tau {row['kendall_tau']:+.2f} epochs {row['epochs']}/"
                  f"{row['exhaustive_epochs']}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for row in results:  # JSON has no NaN: a search too small for a rung has no τ
        row["kendall_tau"] = None if math.isnan(row["kendall_tau"]) else row["kendall_tau"]
    blob = {"metric": f"test {METRIC}", "eta": ETA, "results": results}
    args.out.write_text(json.dumps(blob, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
