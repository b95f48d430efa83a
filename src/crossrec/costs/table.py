"""The measured cost tables and the memory and time limits of one training job.

The tables ``<device>.json`` beside this module are written by ``benchmarks/bench_cost.py``: per
dataset shape (baby, sports, clothing, tiktok, ml100k; synthetic folders with the real sizes) ×
backbone × plug-in (``none``, ``bm3``, ``fettle``, ``cross``), the seconds to build a run
(``build_s``), to train one epoch (``epoch_s``), to evaluate valid + test (``eval_s``) and the
peak memory (``peak_mb``). A run that stops after ``E`` epochs costs

    seconds(E) = build_s + E · (epoch_s + eval_s)

(an upper bound: the trainer evaluates valid every epoch but test only when valid improves).
A dataset is matched to a shape by its name (case-insensitive); a plug-in preset to the measured
plug-in of its family (``cross_no_cna`` → ``cross``: an upper bound, it drops a term). Rows
learned from the study's own finished runs replace shipped ones, and a missing row is predicted
from the nearest measured dataset where both sizes are known (:mod:`crossrec.costs.learned`,
each such row said where it came from); runs that match nothing are counted and reported as
such, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossrec.costs.predict import predict
from crossrec.errors import ConfigError

HERE = Path(__file__).resolve().parent
FAMILIES = ("cross", "fettle", "bm3", "none")
ASSUMED_EPOCHS = 100  # epochs-to-stop assumed by default (stated in every estimate)
MEM_MARGIN = 1.5  # memory limit = peak × margin (+ a CUDA context on a GPU)
CUDA_CONTEXT_MB = 2000
RUNTIME_MARGIN = 1.5
NUMBERS = ("build_s", "epoch_s", "eval_s", "peak_mb")  # every row's measured numbers
MAX_NUMBER = 1e9  # seconds (31 years) or MB (1 PB): beyond it a row is a typo, not a measure


@dataclass(frozen=True)
class CostTable:
    """One device's measured rows, keyed by (shape, backbone, plug-in family)."""

    device: str
    machine: dict[str, Any]
    rows: dict[tuple[str, str, str], dict[str, float]]
    source: str
    partial: bool = False  # only some shapes × backbones × plug-ins measured (said in estimates)
    origin: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """Where a row not measured by the shipped benchmark came from (a learned row)."""
    sizes: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """(users, items, interactions) per shape: what :meth:`row` predicts a missing row from."""
    learned: int = 0
    """Rows learned from the user's own runs (:func:`crossrec.costs.learned.with_learned`)."""
    predicted: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """Rows :meth:`row` predicted so far, and from what."""

    @classmethod
    def load(cls, device: str, path: str | Path | None = None) -> CostTable:
        """The table of ``device`` (``cpu``/``cuda``) shipped with crossrec, or ``path``."""
        file = Path(path) if path else HERE / f"{device}.json"
        if path and file.exists() and not file.is_file():
            raise ConfigError(f"{file}: not a regular file (a cost table is a JSON file)")
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
        if blob.get("device", device) != device:
            raise ConfigError(
                f"{file}: device {blob.get('device')!r}: a table of another device than "
                f"--device {device}"
            )
        if not isinstance(blob.get("machine", {}), dict):
            raise ConfigError(f"{file}: machine: expected a mapping")
        if not isinstance(blob.get("partial", False), bool):
            raise ConfigError(f"{file}: partial: {blob.get('partial')!r} is not true or false")
        rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        first: dict[tuple[str, str, str], int] = {}
        for i, r in enumerate(blob["rows"]):
            where = f"{file}: rows[{i}]"
            if not isinstance(r, dict):
                raise ConfigError(f"{where}: expected a mapping")
            for key in ("shape", "backbone", "plugin"):
                if not isinstance(r.get(key), str) or not r[key].strip():
                    raise ConfigError(f"{where}.{key}: missing or not a name")
            for key in NUMBERS:
                value = r.get(key)
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"{where}.{key}: missing or not a number")
                if not 0 <= value <= MAX_NUMBER:  # NaN fails too; a huge int never floats
                    shown = value if isinstance(value, float) or value < 10**12 else "a huge int"
                    raise ConfigError(f"{where}.{key}: {shown!r} is not in 0 to {MAX_NUMBER:.0e}")
            key3 = (r["shape"], r["backbone"], r["plugin"])
            if key3 in rows:
                raise ConfigError(f"{where}: repeats rows[{first[key3]}] ({'/'.join(key3)})")
            rows[key3], first[key3] = r, i
        partial = blob.get("partial", False) is True
        return cls(blob.get("device", device), blob.get("machine", {}), rows, str(file), partial)

    def row(self, dataset: str, backbone: str, plugin: str) -> dict[str, float] | None:
        """The measured (or learned) row for a run; else one predicted from the same backbone
        and plug-in family on the dataset nearest in size, when :attr:`sizes` knows both
        (:func:`crossrec.costs.predict.predict`; recorded in :attr:`predicted`); else None."""
        key = (dataset.lower(), backbone, family_of(plugin))
        if key in self.rows:
            return self.rows[key]
        found = predict(self.rows, self.sizes, key) if self.sizes else None
        if found is None:
            return None
        self.predicted[key] = found[1]
        return found[0]


def family_of(plugin: str) -> str:
    """The measured plug-in family of a plug-in or preset (``cross_no_cna`` → ``cross``); a
    plug-in of no family is its own."""
    return next((f for f in FAMILIES if plugin == f or plugin.startswith(f + "_")), plugin)


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
