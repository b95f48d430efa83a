"""A study's cost from a measured table (:mod:`crossrec.costs.table`): jobs, run-hours and
epochs per dataset, study, stage and the α×β grid, and the text ``crossrec estimate`` prints."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from crossrec.costs.table import ASSUMED_EPOCHS, CostTable, family_of, run_seconds
from crossrec.errors import ConfigError


def estimate(
    config: Mapping[str, Any], table: CostTable, epochs: int | None = None
) -> dict[str, Any]:
    """Jobs and hours of every planned run of ``config`` on ``table``'s device; in a staged
    study, of every run of every stage (``tune``, ``align``, and ``main`` = replicate; a run
    that two stages share, the selected point at the selection seed, is counted once).

    ``epochs``: epochs each run is assumed to train before early stopping (default
    ``min(train.epochs, 100)``). Returns ``{device, machine, table, epochs, studies: {study:
    {jobs, hours}}, datasets: {dataset: {jobs, hours, unmeasured}}, grid: {jobs, hours},
    total: {jobs, hours, unmeasured}}``; ``grid`` is the α×β grid (the runs of the plug-ins
    configured with a list of ``alpha`` or ``beta`` values, in the main study or, staged, in
    the align stage); ``stages`` (a staged study): per stage its distinct runs, epochs and
    hours with its search (successive halving where configured) and as if exhaustive — a run
    two stages share counted in the first. Hours are single-run
    hours on one device (one GPU, or one CPU thread for the ``cpu`` table)."""
    from crossrec.run import train_settings
    from crossrec.study import open_study

    max_epochs = train_settings(config).epochs
    epochs = epochs if epochs is not None else min(max_epochs, ASSUMED_EPOCHS)
    if epochs < 1:
        raise ConfigError(f"--epochs-to-stop: {epochs} must be >= 1")
    epochs = min(epochs, max_epochs)
    exp = open_study(config)
    gridded = {  # plug-ins whose alpha or beta is a list of values in the main study
        name
        for name, params in config["plugins"].items()
        if any(isinstance((params or {}).get(k), list) for k in ("alpha", "beta"))
    }
    hours: dict[str, float] = defaultdict(float)
    jobs: Counter[str] = Counter()
    unmeasured: Counter[str] = Counter()
    seen = set()
    used: set[tuple[str, str, str]] = set()  # the table keys the runs read
    by_stage = exp.runs_by_stage()
    halved = exp.planned_epochs(epochs)
    exhaustive = exp.planned_epochs(epochs, halving=False)
    stages: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for study, keys in by_stage.items():
        for key in keys:
            jobs[f"study:{study}"] += 1
            dataset = exp.base_dataset(key.dataset)  # a knock-out's: its full dataset's cost
            row = table.row(dataset, key.backbone, key.plugin)
            used.add((dataset.lower(), key.backbone, family_of(key.plugin)))
            n = halved.get(key, epochs)
            h = run_seconds(row, n) / 3600 if row else 0.0
            if exp.staged and key not in seen:
                e = exhaustive.get(key, epochs)
                entry = stages[study]
                entry["runs"] += 1
                entry["epochs"] += n
                entry["hours"] += h
                entry["exhaustive_epochs"] += e
                entry["exhaustive_hours"] += run_seconds(row, e) / 3600 if row else 0.0
                entry["unmeasured"] += row is None
            hours[f"study:{study}"] += h
            unmeasured[f"study:{study}"] += row is None
            if key in seen:
                continue  # a run in two studies is trained once
            seen.add(key)
            jobs[dataset] += 1
            hours[dataset] += h
            unmeasured[dataset] += row is None
            hours["total"] += h
            grid = study == ("align" if exp.staged else "main") and key.plugin in gridded
            if grid:
                jobs["grid"] += 1
                hours["grid"] += h
                unmeasured["grid"] += row is None

    def hours_of(name: str, runs: int, missing: int) -> float | None:
        return _measured(hours[name], runs, missing)

    studies = {
        s: {
            "jobs": jobs[f"study:{s}"],
            "hours": hours_of(f"study:{s}", jobs[f"study:{s}"], unmeasured[f"study:{s}"]),
            "unmeasured": unmeasured[f"study:{s}"],
        }
        for s in by_stage
        if jobs[f"study:{s}"]
    }
    total_missing = sum(unmeasured[d] for d in exp.datasets)
    return {
        "device": table.device,
        "machine": table.machine,
        "table": table.source,
        "learned": table.learned,
        "origin": sorted({table.origin[k] for k in used if k in table.origin}),
        "predicted": {"/".join(k): v for k, v in sorted(table.predicted.items())},
        "partial": table.partial,
        "epochs": epochs,
        "studies": studies,
        "shared": sum(e["jobs"] for e in studies.values()) - len(seen),
        "datasets": {
            d: {
                "jobs": jobs[d],
                "hours": hours_of(d, jobs[d], unmeasured[d]),
                "unmeasured": unmeasured[d],
            }
            for d in exp.datasets
        },
        "grid": {
            "jobs": jobs["grid"],
            "hours": hours_of("grid", jobs["grid"], unmeasured["grid"]),
            "unmeasured": unmeasured["grid"],
        },
        "stages": {
            st: {
                k: _measured(v, entry["runs"], entry["unmeasured"]) if "hours" in k else int(v)
                for k, v in entry.items()
            }
            for st, entry in stages.items()
        },
        "total": {
            "jobs": len(seen),
            "hours": hours_of("total", len(seen), total_missing),
            "unmeasured": total_missing,
        },
    }


MAX_LISTED = 12
"""Predicted rows listed one per line in an estimate; the rest counted."""


def _measured(hours: float, runs: int, missing: int) -> float | None:
    """A line's hours, rounded; None when none of its ``runs`` is measured (``missing`` of
    them are not): unmeasured is never shown as 0 hours."""
    return None if runs and missing == runs else round(hours, 1)


def _hours(value: float | None, width: int) -> str:
    """An hours cell: the measured runs' sum, ``unmeasured`` when no run is measured."""
    text = "unmeasured" if value is None else f"{value:,.1f}"
    return f"{text:>{width}}"


def _left_out(entry: Mapping[str, Any]) -> str:
    """``   (+ N runs with no measured row)`` when a line's hours leave N runs out."""
    missing = entry.get("unmeasured", 0)
    if missing and entry["hours"] is not None:
        return f"   (+ {missing} runs with no measured row)"
    return ""


def format_estimate(est: Mapping[str, Any]) -> str:
    """The estimate as plain text: the table it came from (and whether it is partial), the
    assumptions and caveats, then one line per dataset, study, the α×β grid and the total.
    A line whose runs are all unmeasured says ``unmeasured``; one with some says how many
    runs its hours leave out."""
    unit = "GPU-hours" if est["device"] == "cuda" else "CPU-hours (1 thread per run)"
    machine = est["machine"]
    lines = [
        f"cost estimate on {est['device']} ({machine.get('device_name') or '?'}, torch "
        f"{machine.get('torch', '?')}, measured {machine.get('date', '?')}; {est['table']})",
    ]
    if est.get("partial"):
        lines.append(
            "PARTIAL table: only some dataset shapes x backbones x plug-ins are measured; "
            "hours below leave the unmeasured runs out and say how many"
        )
    lines += [f"row {origin}" for origin in est.get("origin", [])]
    predicted = est.get("predicted") or {}
    for key, how in list(predicted.items())[:MAX_LISTED]:
        lines.append(f"row {key} {how}")
    if len(predicted) > MAX_LISTED:
        lines.append(f"... and {len(predicted) - MAX_LISTED} more predicted rows")
    lines += [
        f"assumption: every run trains {est['epochs']} epochs before it stops, evaluating "
        "valid and test after each; one run at a time per device",
        "caveat: each row is one measurement of a run alone on the device (the CPU table's "
        "partly with other work on the machine): read the hours as +-20 %; runs sharing a "
        "device take longer each",
        f"{'':<24}{'jobs':>8}{unit:>32}",
    ]

    def line(name: str, entry: Mapping[str, Any]) -> str:
        return f"{name:<24}{entry['jobs']:>8}{_hours(entry['hours'], 32)}{_left_out(entry)}"

    lines += [line(f"dataset {d}", e) for d, e in est["datasets"].items()]
    lines += [line(f"study {s}", e) for s, e in est["studies"].items()]
    if est.get("stages"):
        lines.append(
            f"{'staged study':<24}{'runs':>8}{'epochs':>10}{unit[:9]:>12}"
            f"{'exhaustive: epochs':>20}{unit[:9]:>12}"
        )
        for stage, e in est["stages"].items():
            name = "replicate" if stage == "main" else stage
            lines.append(
                f"{'stage ' + name:<24}{e['runs']:>8}{e['epochs']:>10,}"
                f"{_hours(e['hours'], 12)}{e['exhaustive_epochs']:>20,}"
                f"{_hours(e['exhaustive_hours'], 12)}{_left_out(e)}"
            )
    if est["grid"]["jobs"]:
        lines.append(line("alpha x beta grid", est["grid"]))
    lines.append(line("total", est["total"]))
    if est.get("shared"):
        lines.append(
            f"note: the study lines sum to {est['shared']:,} more jobs than the total: a run "
            "two studies share (e.g. the main study's run that an ablation reuses) is trained "
            "once and counted once in the dataset lines and the total"
        )
    return "\n".join(lines)
