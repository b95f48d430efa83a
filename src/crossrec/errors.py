"""Exceptions with one-line, user-facing messages."""

from __future__ import annotations

from pathlib import Path

MAX_MESSAGE = 600  # characters of an error message; values in it are cut to fit


def bounded(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` on one line and at most ``limit`` characters: its start and its end (the
    advice) kept, the middle — typically a value quoted whole — cut at ``…``."""
    message = " ".join(str(message).split("\n"))
    if len(message) <= limit:
        return message
    tail = limit // 5
    return message[: limit - tail - 1] + "…" + message[-tail:]


class CrossrecError(Exception):
    """Base class: the CLI prints ``str(err)`` as a single line and exits with
    :attr:`exit_code` (2: bad input). Every message is :func:`bounded`: no input can make
    an error large."""

    exit_code = 2

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            args = (bounded(args[0]),)
        super().__init__(*args)


class DataError(CrossrecError):
    """Bad input data. The message names the offending file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = bounded(problem)
        super().__init__(f"{self.path}: {self.problem}")


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
