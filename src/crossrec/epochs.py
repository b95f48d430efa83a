"""What the trainer reports after each epoch, as values (:class:`EpochEvent`), and the one log
line made of them (:func:`epoch_line`); what may watch a run (:class:`RunObserver`: the
experiment trackers of :mod:`crossrec.tracking`). Torch-free: every value is a Python number,
taken from the epoch's history row after the epoch ended (no host synchronisation added).

The time left is given twice, because early stopping makes the epoch cap a poor guide:

* **to early stopping** — the run stops after ``patience + 1 − bad`` more evaluations without a
  new best (``bad`` of them passed already), so ``min(cap − k, patience + 1 − bad)`` epochs at
  the mean epoch time so far: the time left if the best does not improve again;
* **to the cap** — ``cap − k`` epochs: the most it can take.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class EpochEvent:
    """One finished epoch.

    Attributes:
        epoch: k, epochs done (1-based).
        epochs: the cap N (``train.epochs``).
        values: the epoch's history row (loss terms, ``valid_*`` metrics, seconds).
        valid_metric: the early-stopping metric's name; ``value`` its value this epoch.
        improved: a new best; ``best_value``, ``best_epoch`` the best so far.
        bad_evals: evaluations since the best; ``patience`` how many are tolerated.
        elapsed: train + eval seconds of the run so far (a resumed run's included).
    """

    epoch: int
    epochs: int
    values: Mapping[str, Any]
    valid_metric: str
    value: float
    improved: bool
    best_value: float
    best_epoch: int
    bad_evals: int
    patience: int
    elapsed: float

    def epochs_left(self) -> tuple[int, int]:
        """(to early stopping without a new best, to the cap) — module docstring."""
        cap = max(self.epochs - self.epoch, 0)
        return min(cap, max(self.patience + 1 - self.bad_evals, 0)), cap

    def seconds_left(self) -> tuple[float, float]:
        """:meth:`epochs_left` times the mean epoch time so far."""
        mean = self.elapsed / max(self.epoch, 1)
        stop, cap = self.epochs_left()
        return stop * mean, cap * mean


def clock(seconds: float) -> str:
    """``H:MM:SS`` of a duration."""
    return str(datetime.timedelta(seconds=round(seconds)))


def epoch_line(event: EpochEvent) -> str:
    """``epoch k/N loss L valid <metric> V [*] best B @e patience b/p (t train, t eval) elapsed
    H:MM:SS, left ≤ H:MM:SS to early stop (H:MM:SS to the cap)``."""
    v = event.values
    stop, cap = event.seconds_left()
    return (
        f"epoch {event.epoch}/{event.epochs} loss {v['loss']:.5f} valid {event.valid_metric} "
        f"{event.value:.4f}{' *' if event.improved else ''} best {event.best_value:.4f} "
        f"@{event.best_epoch} patience {event.bad_evals}/{event.patience} "
        f"({v['train_seconds']:.2f}s train, {v['eval_seconds']:.2f}s eval) elapsed "
        f"{clock(event.elapsed)}, left ≤ {clock(stop)} to early stop ({clock(cap)} to the cap)"
    )


class RunObserver(Protocol):
    """Watches a run: its parameters at the start, each epoch's values, its final metrics.
    An observer only reads (the run's results never depend on one)."""

    def start(self, params: Mapping[str, Any], out_dir: Path) -> None:
        """The run's definition (``run.yaml``'s content) and folder."""

    def epoch(self, event: EpochEvent) -> None:
        """One finished epoch."""

    def finish(self, metrics: Mapping[str, Any] | None) -> None:
        """The run's ``metrics.json`` (None: paused or stopped before its end)."""
