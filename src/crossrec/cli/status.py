"""The ``status`` verb: where a study stands, from its files only (crossrec.study.progress)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from crossrec.cli.args import config_flags, study_of


def cmd_status(args: argparse.Namespace) -> None:
    """Per dataset and stage: runs done, running, stopped (paused or interrupted), failed
    (each with its log and last line) and pending, the stages not yet planned, the compute
    spent and the hours left by the cost table (rows learned from the finished runs first).
    Reads files only (and, where SLURM runs, lists the study's queued and running jobs with
    squeue): safe beside a running study."""
    import shutil

    from crossrec.cluster import live_jobs
    from crossrec.costs import CostTable
    from crossrec.costs.learned import with_learned
    from crossrec.errors import ConfigError
    from crossrec.run import train_settings
    from crossrec.study.progress import format_progress, progress

    results = args.results
    study, _ = study_of(args, results / "selections")
    cuda = train_settings(study.config).device.startswith("cuda")
    try:
        table = with_learned(CostTable.load("cuda" if cuda else "cpu"), results / "runs")
    except ConfigError:
        table = None
    state = progress(study, results / "runs", results / "logs" / "train", table)
    # the study's jobs a SLURM queue holds (its working directory: the folder above results/)
    jobs = live_jobs(str(results.resolve().parent)) if shutil.which("squeue") else []
    state["slurm_jobs"] = jobs
    if args.json:
        print(json.dumps(state, indent=1))
        return
    print(format_progress(state))
    if jobs:
        print(f"SLURM: {len(jobs)} job(s) of this study queued or running: "
              + ", ".join(f"{j['id']} {j['state'].lower()} ({j['comment']})" for j in jobs))  # fmt: skip


def add_parsers(sub: Any) -> None:  # noqa: ANN401
    """Register ``status`` on the CLI's subparsers."""
    p = sub.add_parser(
        "status", help="where a study stands: runs by state, failures, hours spent and left",
        description=cmd_status.__doc__,
    )  # fmt: skip
    config_flags(p)
    p.add_argument(
        "--results",
        type=Path,
        default=Path("results"),
        help="the study's results folder (runs/, selections/, logs/train/)",
    )
    p.add_argument("--json", action="store_true", help="the state as JSON, for scripts")
    p.set_defaults(func=cmd_status)
