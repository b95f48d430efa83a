"""Exceptions with one-line, user-facing messages."""

from __future__ import annotations

from pathlib import Path


class CrossrecError(Exception):
    """Base class: the CLI prints ``str(err)`` as a single line and exits with
    :attr:`exit_code` (2: bad input)."""

    exit_code = 2


class DataError(CrossrecError):
    """Bad input data. The message names the offending file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(CrossrecError):
    """An invalid configuration (unknown key, missing key, wrong type)."""


class DownloadError(CrossrecError):
    """A dataset could not be fetched; the message says how to place it by hand."""


class OutputError(CrossrecError):
    """An output location crossrec must not write to (it would delete or overwrite the user's
    files, or an input)."""


class NonFiniteLossError(CrossrecError):
    """Training produced a NaN or infinite loss; the CLI exits with status 3."""

    exit_code = 3


class InterruptedRun(CrossrecError):
    """Training stopped on SIGTERM after writing its checkpoint; the CLI exits with status 75
    (``EX_TEMPFAIL``: run the same command again to continue)."""

    exit_code = 75
