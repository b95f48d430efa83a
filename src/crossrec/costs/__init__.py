"""What a study costs, from measured tables: jobs, run-hours, GPU- or CPU-hours, and the memory
and time limits of one training job.

The tables ``<device>.json`` beside this module are written by ``benchmarks/bench_cost.py``: per
dataset shape (baby, sports, clothing, tiktok, ml100k; synthetic folders with the real sizes) ×
backbone × plug-in (``none``, ``bm3``, ``fettle``, ``cross``), the seconds to build a run
(``build_s``), to train one epoch (``epoch_s``), to evaluate valid + test (``eval_s``) and the
peak memory (``peak_mb``). A run that stops after ``E`` epochs costs

    seconds(E) = build_s + E · (epoch_s + eval_s)

(an upper bound: the trainer evaluates valid every epoch but test only when valid improves).
A dataset is matched to a shape by its name (case-insensitive); a plug-in preset to the measured
plug-in of its family (``cross_no_cna`` → ``cross``: an upper bound, it drops a term). Runs
that match no measured row are counted and reported as such, never guessed.
"""

from __future__ import annotations

import functools
import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossrec.errors import ConfigError

HERE = Path(__file__).resolve().parent
FAMILIES = ("cross", "fettle", "bm3", "none")
ASSUMED_EPOCHS = 100  # epochs-to-stop assumed by default (stated in every estimate)
MEM_MARGIN = 1.5  # memory limit = peak × margin (+ a CUDA context on a GPU)
CUDA_CONTEXT_MB = 2000
RUNTIME_MARGIN = 1.5
NUMBERS = ("build_s", "epoch_s", "eval_s", "peak_mb")  # every row's measured numbers


@dataclass(frozen=True)
class CostTable:
    """One device's measured rows, keyed by (shape, backbone, plug-in family)."""

    device: str
    machine: dict[str, Any]
    rows: dict[tuple[str, str, str], dict[str, float]]
    source: str
    partial: bool = False  # only some shapes × backbones × plug-ins measured (said in estimates)

    @classmethod
    def load(cls, device: str, path: str | Path | None = None) -> CostTable:
        """The table of ``device`` (``cpu``/``cuda``) shipped with crossrec, or ``path``."""
        file = Path(path) if path else HERE / f"{device}.json"
        if not file.is_file():
            other = "" if device == "cpu" else ", or estimate with --device cpu"
            raise ConfigError(
                f"{file}: no measured cost table for device {device!r} (measure one with "
                f"`python benchmarks/bench_cost.py --device {device}` on such a machine{other})"
            )
        from crossrec.safeload import load_json

        blob = load_json(file, ConfigError)
        if not isinstance(blob, dict) or not isinstance(blob.get("rows"), list):
            raise ConfigError(f"{file}: not a crossrec cost table (no list of rows)")
        rows = {}
        for i, r in enumerate(blob["rows"]):
            where = f"{file}: rows[{i}]"
            if not isinstance(r, dict):
                raise ConfigError(f"{where}: expected a mapping")
            for key in ("shape", "backbone", "plugin"):
                if not isinstance(r.get(key), str):
                    raise ConfigError(f"{where}.{key}: missing or not a name")
            for key in NUMBERS:
                value = r.get(key)
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"{where}.{key}: missing or not a number")
                if not math.isfinite(value) or value < 0:
                    raise ConfigError(f"{where}.{key}: {value!r} is not a number >= 0")
            rows[(r["shape"], r["backbone"], r["plugin"])] = r
        partial = blob.get("partial", False) is True
        return cls(blob.get("device", device), blob.get("machine", {}), rows, str(file), partial)

    def row(self, dataset: str, backbone: str, plugin: str) -> dict[str, float] | None:
        """The measured row for a run, or None (unknown shape, backbone or plug-in)."""
        family = next((f for f in FAMILIES if plugin == f or plugin.startswith(f + "_")), None)
        return self.rows.get((dataset.lower(), backbone, family or plugin))


def run_seconds(row: Mapping[str, float], epochs: int) -> float:
    """``build_s + epochs · (epoch_s + eval_s)`` of one measured row."""
    return row["build_s"] + epochs * (row["epoch_s"] + row["eval_s"])


def memory_mb(row: Mapping[str, float], cuda: bool) -> int:
    """Memory limit of a job running this row: measured peak × 1.5 (+ 2,000 MB for a CUDA
    context), rounded up to 500 MB."""
    mb = row["peak_mb"] * MEM_MARGIN + (CUDA_CONTEXT_MB if cuda else 0)
    return int(math.ceil(mb / 500) * 500)


def runtime_minutes(row: Mapping[str, float], epochs: int) -> int:
    """Time limit of a job running this row for at most ``epochs`` epochs: 1.5 × the estimate,
    in whole minutes (at least 10)."""
    return max(10, int(math.ceil(run_seconds(row, epochs) * RUNTIME_MARGIN / 60)))


def job_limits(
    dataset: str, backbone: str, plugin: str, device: str, epochs: int
) -> tuple[int | None, int | None]:
    """Memory (MB) and time (minutes) limits of one training job from the shipped tables:
    memory from the CPU table's peak (host memory, plus a CUDA context on ``cuda``), time from
    ``device``'s table for ``epochs`` epochs; None where no measured row exists."""
    host, own = _shipped("cpu"), _shipped(device)
    row = host.row(dataset, backbone, plugin) if host else None
    mem = memory_mb(row, cuda=device == "cuda") if row else None
    row = own.row(dataset, backbone, plugin) if own else None
    return mem, runtime_minutes(row, epochs) if row else None


@functools.cache
def _shipped(device: str) -> CostTable | None:
    """The shipped table of ``device``, read once per process; None when there is none."""
    try:
        return CostTable.load(device)
    except ConfigError:
        return None


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
    from crossrec.experiment import Experiment
    from crossrec.run import train_settings

    max_epochs = train_settings(config).epochs
    epochs = epochs if epochs is not None else min(max_epochs, ASSUMED_EPOCHS)
    if epochs < 1:
        raise ConfigError(f"--epochs-to-stop: {epochs} must be >= 1")
    epochs = min(epochs, max_epochs)
    exp = Experiment(config)
    gridded = {  # plug-ins whose alpha or beta is a list of values in the main study
        name
        for name, params in config["plugins"].items()
        if any(isinstance((params or {}).get(k), list) for k in ("alpha", "beta"))
    }
    hours: dict[str, float] = defaultdict(float)
    jobs: Counter[str] = Counter()
    unmeasured: Counter[str] = Counter()
    seen = set()
    by_stage = exp.runs_by_stage()
    halved = exp.planned_epochs(epochs)
    exhaustive = exp.planned_epochs(epochs, halving=False)
    stages: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for study, keys in by_stage.items():
        for key in keys:
            jobs[f"study:{study}"] += 1
            row = table.row(key.dataset, key.backbone, key.plugin)
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
            jobs[key.dataset] += 1
            hours[key.dataset] += h
            unmeasured[key.dataset] += row is None
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
