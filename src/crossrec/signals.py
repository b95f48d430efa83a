"""SIGTERM as a request, not an end: the trainer finishes its epoch and writes its checkpoint
(SLURM sends SIGTERM at a job's time limit, Snakemake when it is stopped)."""

from __future__ import annotations

import signal
import threading
from typing import Any


class StopOnSigterm:
    """Within ``with``: SIGTERM sets :attr:`requested` instead of ending the process, so the
    trainer can finish its epoch and write a checkpoint (SLURM sends SIGTERM before a job's time
    limit, Snakemake when it is stopped). Only in the main thread (elsewhere signals cannot be
    handled); the previous handler is restored on exit."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:  # noqa: ANN401
        self.requested = True

    def __enter__(self) -> StopOnSigterm:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
