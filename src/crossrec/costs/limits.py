"""One training job's memory and time limits (SLURM ``--mem``, ``-t``) from the cost tables:
the study's own finished runs first, then the shipped rows, then a predicted row
(:mod:`crossrec.costs.learned`); None where nothing is known (the workflow's fallback)."""

from __future__ import annotations

import functools
from pathlib import Path

from crossrec.costs.learned import with_learned
from crossrec.costs.table import CostTable, memory_mb, runtime_minutes
from crossrec.errors import ConfigError


def job_limits(
    dataset: str,
    backbone: str,
    plugin: str,
    device: str,
    epochs: int,
    runs_root: str | Path | None = None,
) -> tuple[int | None, int | None]:
    """Memory (MB) and time (minutes) limits of one training job from the cost tables (the
    shipped ones, with the rows learned from the finished runs below ``runs_root`` in their
    place and missing rows predicted: :mod:`crossrec.costs.learned`): memory from the CPU
    table's peak (host memory, plus a CUDA context on ``cuda``), time from ``device``'s table
    for ``epochs`` epochs; None where nothing is known."""
    host, own = _tables("cpu", runs_root), _tables(device, runs_root)
    row = host.row(dataset, backbone, plugin)
    mem = memory_mb(row, cuda=device == "cuda") if row else None
    row = own.row(dataset, backbone, plugin)
    return mem, runtime_minutes(row, epochs) if row else None


@functools.cache
def _tables(device: str, runs_root: str | Path | None) -> CostTable:
    """``device``'s shipped table (an empty one where none is shipped) with what the runs below
    ``runs_root`` measured, built once per process."""
    try:
        table = CostTable.load(device)
    except ConfigError:
        table = CostTable(device, {}, {}, f"no shipped {device} table")
    return with_learned(table, runs_root)
