"""Where a study stands, from its files only (``crossrec status``): so it can be asked beside a
running local or SLURM study without touching it — no lock is taken, no file written.

Each run the study knows so far (a staged study's later stages appear once their selection is
made; :meth:`~crossrec.study.base.Planner.runs_by_stage` counts them before) is in one state:

* **done** — its ``metrics.json`` is complete (:func:`crossrec.run.read_metrics`);
* **running** — a process holds the run folder's lock (``.crossrec.lock``, a ``flock`` the
  trainer holds while it writes): read from ``/proc/locks`` without locking, so on Linux and
  for processes of this machine (a run on another SLURM node shows as *stopped* or *pending*);
* **failed** — its log ends in an error line and nothing holds the run;
* **stopped** — it trained (a checkpoint, a halving rung or a log) but neither finished nor
  failed: paused at a rung, killed at a time limit, or interrupted; the next ``snakemake``
  resumes it;
* **pending** — nothing of it yet.

The compute spent is the done runs' measured train + eval seconds; the hours left are the cost
table's (:mod:`crossrec.costs`, learned rows first) for every run not done, including those of
stages not yet planned.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from crossrec.run import RunKey

STATES = ("done", "running", "stopped", "failed", "pending")
ERROR_WORDS = ("error", "Error", "Traceback", "Killed", "CANCELLED")


def _held_inodes() -> set[tuple[int, int]] | None:
    """(device, inode) of every file a ``flock`` is held on (``/proc/locks``; None where that
    cannot be read: no Linux)."""
    try:
        text = Path("/proc/locks").read_text()
    except OSError:
        return None
    held = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[1] == "FLOCK":
            major, minor, inode = parts[5].split(":")
            held.add((os.makedev(int(major, 16), int(minor, 16)), int(inode)))
    return held


def last_line(path: Path) -> str:
    """The last non-empty line of a log (at most its last 4 kB read)."""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - 4096))
        lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines()]
    return next((ln for ln in reversed(lines) if ln), "")


def run_state(
    key: RunKey, runs_root: Path, logs_root: Path, held: set | None
) -> tuple[str, dict[str, Any]]:
    """``(state, details)`` of one run (module docstring): details hold the log path, the log's
    last line for a failed run, and the measured seconds of a done one."""
    from crossrec.errors import CrossrecError
    from crossrec.outputs import LOCK
    from crossrec.run import read_metrics

    folder = runs_root / key.path()
    logs = sorted(logs_root.glob(f"{key.path()}*.log")) if logs_root.is_dir() else []
    log = logs_root / f"{key.path()}.log"
    log = log if log.exists() else (logs[-1] if logs else log)
    details: dict[str, Any] = {"run": key.path(), "log": str(log)}
    if (folder / "metrics.json").exists():
        try:
            cost = read_metrics(folder / "metrics.json").get("cost") or {}
            details["seconds"] = float(cost.get("train_seconds", 0)) + float(
                cost.get("eval_seconds", 0)
            )
            return "done", details
        except CrossrecError:
            pass
    lock = folder / LOCK
    if held is not None and lock.exists():
        st = lock.stat()
        if (st.st_dev, st.st_ino) in held:
            return "running", details
    if log.exists() and log.stat().st_size:
        line = last_line(log)
        if any(word in line for word in ERROR_WORDS):
            return "failed", {**details, "error": line}
    trained = any(folder.glob("rung*.json")) or any(folder.glob("checkpoint*")) or log.exists()
    return ("stopped" if trained else "pending"), details


def progress(
    study: Any,  # noqa: ANN401 - a crossrec.study planner
    runs_root: str | Path,
    logs_root: str | Path,
    table: Any = None,  # noqa: ANN401 - a crossrec.costs.CostTable (None: no hours left)
    epochs: int | None = None,
) -> dict[str, Any]:
    """The study's state: per (dataset, stage) the runs in each state, the runs not yet
    planned, the failed runs (log path and last line), the hours spent and left.

    ``epochs``: epochs each run not done is assumed to train (default ``min(train.epochs,
    100)``, as the estimate assumes)."""
    from crossrec.costs.table import ASSUMED_EPOCHS, run_seconds
    from crossrec.run import train_settings

    runs_root, logs_root = Path(runs_root), Path(logs_root)
    held = _held_inodes()
    max_epochs = train_settings(study.config).epochs
    epochs = min(epochs or ASSUMED_EPOCHS, max_epochs)
    known = {study_name: study.runs(study_name) for study_name in study.run_studies}
    expected = study.runs_by_stage()
    lines: dict[tuple[str, str], Counter] = defaultdict(Counter)
    failed, seen = [], set()
    spent = left = 0.0
    unknown_cost = 0

    def cost(key: RunKey) -> float | None:
        """Seconds the table gives a run not done (None: no row)."""
        row = (
            table.row(study.base_dataset(key.dataset), key.backbone, key.plugin) if table else None
        )
        return run_seconds(row, epochs) if row else None

    for stage in [*expected, *(s for s in known if s not in expected)]:
        keys = list(dict.fromkeys(known.get(stage, [])))
        for key in keys:
            dataset = study.base_dataset(key.dataset)
            state, details = run_state(key, runs_root, logs_root, held)
            lines[(dataset, stage)][state] += 1
            if key in seen:
                continue
            seen.add(key)
            if state == "failed":
                failed.append(details)
            if state == "done":
                spent += details.get("seconds", 0.0)
            else:
                seconds = cost(key)
                left, unknown_cost = left + (seconds or 0.0), unknown_cost + (seconds is None)
        planned = Counter(study.base_dataset(k.dataset) for k in dict.fromkeys(keys))
        for key in expected.get(stage, []):
            dataset = study.base_dataset(key.dataset)
            if planned[dataset] > 0:
                planned[dataset] -= 1  # a stand-in for a run already planned
                continue
            lines[(dataset, stage)]["not planned"] += 1
            seconds = cost(key)
            left, unknown_cost = left + (seconds or 0.0), unknown_cost + (seconds is None)
    return {
        "stages": [
            {"dataset": d, "stage": s, **{k: counts[k] for k in (*STATES, "not planned")}}
            for (d, s), counts in lines.items()
        ],
        "failed": failed,
        "hours_spent": round(spent / 3600, 2),
        "hours_left": None if table is None else round(left / 3600, 2),
        "left_unmeasured": unknown_cost,
        "epochs_assumed": epochs,
        "running_seen": held is not None,
    }


def format_progress(state: dict[str, Any], max_failed: int = 20) -> str:
    """:func:`progress` as plain text: one line per (dataset, stage), the failed runs with
    their log and last line, the hours."""
    columns = (*STATES, "not planned")
    out = [f"{'dataset':<20}{'stage':<14}" + "".join(f"{c:>13}" for c in columns)]
    for row in state["stages"]:
        name = "replicate" if row["stage"] == "main" else row["stage"]
        out.append(f"{row['dataset']:<20}{name:<14}" + "".join(f"{row[c]:>13,}" for c in columns))
    for run in state["failed"][:max_failed]:
        out.append(f"failed: {run['run']}  log: {run['log']}")
        out.append(f"    {run['error']}")
    if len(state["failed"]) > max_failed:
        out.append(f"... and {len(state['failed']) - max_failed} more failed runs")
    left = state["hours_left"]
    text = "unknown (no cost table)" if left is None else f"{left:,.2f} h"
    if left is not None and state["left_unmeasured"]:
        text += f" (+ {state['left_unmeasured']} runs with no measured or predicted row)"
    out.append(
        f"compute spent: {state['hours_spent']:,.2f} h (measured by the finished runs); "
        f"left: {text}, assuming {state['epochs_assumed']} epochs a run"
    )
    if not state["running_seen"]:
        out.append("note: running runs cannot be told here (no /proc/locks): shown as stopped")
    return "\n".join(out)
