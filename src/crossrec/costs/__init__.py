"""What a study costs, from measured tables: the tables and one job's memory and time limits
(:mod:`crossrec.costs.table`, which says how a row is measured and matched), and a study's
jobs and hours (:mod:`crossrec.costs.estimate`)."""

from crossrec.costs.estimate import estimate, format_estimate
from crossrec.costs.limits import job_limits
from crossrec.costs.table import (
    ASSUMED_EPOCHS,
    CostTable,
    memory_mb,
    run_seconds,
    runtime_minutes,
)

__all__ = [
    "ASSUMED_EPOCHS",
    "CostTable",
    "estimate",
    "format_estimate",
    "job_limits",
    "memory_mb",
    "run_seconds",
    "runtime_minutes",
]
