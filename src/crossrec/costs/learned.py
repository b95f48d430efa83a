"""Cost rows learned from the runs a study has already trained, and rows predicted for what no
run or shipped table measured.

**Learned.** Every finished run's ``metrics.json`` below a runs folder records its train and
eval seconds, epochs, peak memory, device and thread count. Per (dataset, backbone, plug-in
family) on one device kind (``cpu``/``cuda``) they make a row

    epoch_s = median over runs of train_seconds / epochs_run
    eval_s  = median over runs of eval_seconds / epochs_run
    peak_mb = max over runs of peak_memory_mb

with ``build_s`` (start-up; the runs do not record it) taken from the shipped row of the same
key where there is one, else :data:`ASSUMED_BUILD_S`. Learned rows win over the shipped table's
(:func:`with_learned`): they were measured on the user's own machine, with the study's own
settings (batch size, model sizes), which the shipped rows were not.

**Predicted.** A (dataset, backbone, plug-in) that neither the runs nor the shipped table
measured is predicted (:func:`crossrec.costs.predict.predict`): from the backbone alone on the same dataset times the
plug-in's factor where one is known, else from the same backbone and plug-in on the dataset
nearest in size, scaled by the sizes. Sizes come from the runs' own records and the known
dataset shapes. Every predicted row says where it came from; a dataset of unknown size is never
predicted.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from crossrec.costs.predict import Size
from crossrec.costs.table import CostTable, family_of

ASSUMED_BUILD_S = 60.0
"""Start-up seconds of a learned row without a shipped one (the runs do not record it)."""


def device_kind(device: str) -> str:
    """``cuda`` for ``cuda``/``cuda:N``, else the device's name (``cpu``, ``mps``)."""
    return "cuda" if device.startswith("cuda") else device


def _measurement(path: Path) -> tuple[tuple[str, str, str], dict[str, Any]] | None:
    """(key, numbers) of one finished run's ``metrics.json``; None for one that is not a
    complete, readable crossrec run (a failed or foreign file is no measurement)."""
    from crossrec.errors import CrossrecError
    from crossrec.run import read_metrics

    try:
        blob = read_metrics(path)
    except CrossrecError:
        return None
    ident, cost = blob["identity"], blob.get("cost") or {}
    epochs = blob.get("epochs_run") or 0
    if epochs < 1 or "train_seconds" not in cost:
        return None
    prov = blob.get("provenance") or {}
    data = prov.get("data") or {}
    parts = ("n_train", "n_valid", "n_test")
    size = None
    if all(isinstance(data.get(k), int) for k in ("n_users", "n_items", *parts)):
        size = (data["n_users"], data["n_items"], sum(data[k] for k in parts))
    key = (ident["dataset"].lower(), ident["backbone"], family_of(ident["plugin"]))
    return key, {
        "device": device_kind(str(prov.get("device", "cpu"))),
        "epoch_s": float(cost["train_seconds"]) / epochs,
        "eval_s": float(cost.get("eval_seconds", 0.0)) / epochs,
        "peak_mb": float(cost.get("peak_memory_mb", 0.0)),
        "threads": cost.get("threads"),
        "size": size,
    }


def learned_rows(runs_root: str | Path, device: str) -> tuple[dict, dict[str, Size]]:
    """Rows learned from the finished runs below ``runs_root`` on ``device`` (its kind), keyed
    like :class:`CostTable`'s, each with ``runs`` and ``threads``; and the dataset sizes the
    runs recorded (shape → (users, items, interactions))."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    sizes: dict[str, Size] = {}
    root = Path(runs_root)
    for path in sorted(root.glob("*/*/*/*/seed*/metrics.json")) if root.is_dir() else []:
        found = _measurement(path)
        if found is None:
            continue
        key, m = found
        if m["size"] is not None:
            sizes[key[0]] = m["size"]
        if m["device"] == device_kind(device):
            groups[key].append(m)
    rows = {}
    for key, ms in groups.items():
        threads = sorted({m["threads"] for m in ms if m["threads"] is not None})
        rows[key] = {
            "shape": key[0],
            "backbone": key[1],
            "plugin": key[2],
            "epoch_s": statistics.median(m["epoch_s"] for m in ms),
            "eval_s": statistics.median(m["eval_s"] for m in ms),
            "peak_mb": max(m["peak_mb"] for m in ms),
            "runs": len(ms),
            "threads": threads,
        }
    return rows, sizes


def known_sizes() -> dict[str, Size]:
    """The sizes of the datasets crossrec knows by name (the papers' and ml100k)."""
    from crossrec.data.synthetic import SHAPES

    return {name: (s.users, s.items, s.interactions) for name, s in SHAPES.items()}


def with_learned(table: CostTable, runs_root: str | Path | None) -> CostTable:
    """``table`` with the rows learned from ``runs_root`` (:func:`learned_rows`) in place of its
    own, and the sizes that let :meth:`CostTable.row` predict a missing row."""
    sizes = known_sizes()
    if runs_root is None:
        return replace(table, sizes=sizes)
    learned, seen = learned_rows(runs_root, table.device)
    sizes |= seen
    rows = dict(table.rows)
    origin = dict(table.origin)
    for key, row in learned.items():
        shipped = table.rows.get(key)
        build = shipped["build_s"] if shipped else ASSUMED_BUILD_S
        rows[key] = {**row, "build_s": build}
        threads = "/".join(str(t) for t in row["threads"]) or "?"
        origin[key] = (
            f"{'/'.join(key)} learned from {row['runs']} run{'s' if row['runs'] > 1 else ''} in {runs_root} "
            f"({threads} thread{'s' if threads != '1' else ''}"
            f"{'' if shipped else f'; start-up assumed {ASSUMED_BUILD_S:.0f} s'})"
        )
    return replace(table, rows=rows, origin=origin, sizes=sizes, learned=len(learned))
