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

from crossrec.costs.estimate import estimate, format_estimate
from crossrec.costs.table import (
    ASSUMED_EPOCHS,
    CostTable,
    job_limits,
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
