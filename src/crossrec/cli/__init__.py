"""``crossrec`` command line: one verb per job, its flags declared beside its command.

    crossrec download --dataset ml100k --source ml100k --out resources/ml100k
    crossrec prepare  --dataset ml100k --source ml100k --raw resources/ml100k --out results/data/ml100k
    crossrec train    --data results/data/ml100k --backbone lightgcn --param n_layers=2 --out DIR
    crossrec train    --data results/data/ml100k --run results/runs/ml100k/.../seed1/run.yaml --out DIR
    crossrec plan     --config config/config.yaml --out results/plan.json --runs results/runs
    crossrec estimate --config config/paper.yaml --device cpu
    crossrec tables   --plan results/plan.json --runs results/runs --out results/tables
    crossrec figures  --plan results/plan.json --runs results/runs --out results/figures
    crossrec list     (registered backbones, plug-ins, sources and trainer settings)
    crossrec synth    --shape baby --out DIR   (a seeded synthetic folder of Baby's shape)

Errors in the input print one line (``crossrec: error: <file or key>: <problem>``) and exit with
2; a training run whose loss becomes NaN or infinite exits with 3 (one line naming the epoch and
the loss term); one stopped by SIGTERM exits with 75 after writing its checkpoint; any other exit
status means an internal failure. Each verb lives in the module of its concern (``data``,
``train``, ``study``, ``report``, ``info``). Importing this package imports neither torch nor pandas; a
verb imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from crossrec import __version__
from crossrec.cli import data, info, report, status, study, train
from crossrec.cli.args import DefaultsFormatter, parse_assignments
from crossrec.errors import CrossrecError

__all__ = ["build_parser", "main", "parse_assignments"]


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``crossrec <command>: error: <problem>`` (exit 2); the
    usage stays available under ``--help``."""

    def error(self, message: str) -> NoReturn:
        """Print one line and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand (each module registers its own)."""
    doc = (__doc__ or "").replace("``", "")
    parser = Parser(
        prog="crossrec",
        description=doc.splitlines()[0],
        epilog="examples:\n" + doc.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"crossrec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (data, train, study, status, report, info):
        module.add_parsers(sub)
    for command in sub.choices.values():  # every subcommand states its defaults
        command.formatter_class = DefaultsFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "out", None) is not None:
            from crossrec.io import check_writable

            check_writable(args.out)  # before any work: nothing left behind
        args.func(args)
    except CrossrecError as err:
        print(f"crossrec: error: {err}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:  # `crossrec list | head`: the reader left; not an error
        sys.stdout = None  # type: ignore[assignment]  # no flush of the closed pipe at exit
        return 0
    except OSError as err:  # a full, read-only or foreign destination met while writing
        where = err.filename or getattr(args, "out", None) or "crossrec"
        print(f"crossrec: error: {where}: {shorten_error(err)}", file=sys.stderr)
        return 2
    return 0


def shorten_error(err: OSError) -> str:
    """An OSError's reason in a few words (``No space left on device``)."""
    from crossrec.safeload import shorten

    return shorten(err.strerror or str(err))[1:-1]
