"""The study's verbs: ``plan`` (plan.json and the run files), ``stage`` (the run files a
selection determines), ``select`` (a stage's winner), ``rung`` (a halving rung's survivors),
``study`` (the replicate runs the report reads) and ``estimate`` (what the study costs).
Each calls into :mod:`crossrec.study`; torch is imported only to type parameters."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from crossrec.cli.args import (
    config_flags,
    int_in,
    known_stage,
    stage_flags,
    stage_of,
    staged,
    study_of,
)
from crossrec.errors import ConfigError, CrossrecError


def _check_plan_out(path: Path) -> None:
    """Refuse to replace a file that is not a crossrec plan (before anything is written)."""
    from crossrec.errors import OutputError
    from crossrec.safeload import read_json

    if not os.path.lexists(path):
        return
    try:
        old = read_json(path, "")
    except CrossrecError:
        old = None
    if not (isinstance(old, dict) and "runs" in old):
        raise OutputError(f"{path}: exists and is not a crossrec plan; refusing to replace it")


def _write_runs(study: Any, runs: Path, step: tuple[str, ...]) -> None:  # noqa: ANN401
    """The run files of ``step`` below ``runs`` (crossrec.study.runfiles)."""
    from crossrec.io import check_writable
    from crossrec.study.runfiles import write_run_files

    check_writable(runs)
    n, written = write_run_files(study, runs, step)
    print(f"{n} runs ({written} run files written) -> {runs}/", file=sys.stderr)


def _write_plan(out: Path, plan: dict[str, Any]) -> None:
    from crossrec.io import write_json

    write_json(out, plan)
    print(f"{len(plan['runs'])} planned runs -> {out}", file=sys.stderr)


def cmd_plan(args: argparse.Namespace) -> None:
    """Expand a workflow config into ``plan.json`` (every run, its study and parameters) and
    the run files known before any selection."""
    if args.out is None and args.runs is None:
        raise ConfigError("plan: give --out (where to write plan.json), --runs, or both")
    study, _ = study_of(args)
    if args.out is not None:
        _check_plan_out(args.out)
    if args.runs is not None:
        _write_runs(study, args.runs, ("plan",))
    if args.out is not None:
        _write_plan(args.out, study.plan())


def cmd_stage(args: argparse.Namespace) -> None:
    """After a stage's selection: the run files it determines, and their list (``--out``)."""
    stage, dataset, backbone, plugin = stage_of(args)
    study, source = study_of(args, args.selections)
    staged(study, source, "stage")
    known_stage(study, (stage, dataset, backbone, plugin), source)
    step = (stage, dataset, backbone, *([plugin] if stage == "align" else []))
    _check_plan_out(args.out)
    _write_runs(study, args.runs, step)
    _write_plan(
        args.out, {"step": list(step), "runs": [k.path() for k in study.runs_determined_by(step)]}
    )


def cmd_study(args: argparse.Namespace) -> None:
    """A staged study's replicate runs as the tables read them (``study.json``), once every
    selection is made."""
    study, source = study_of(args, args.selections)
    staged(study, source, "study")
    _check_plan_out(args.out)
    _write_plan(args.out, study.plan())


def cmd_select(args: argparse.Namespace) -> None:
    """A stage's best finalist on validation (or test with ``selection: mmrec_test``), as a
    selection file listing every candidate (crossrec.study.selection)."""
    from crossrec.study.selection import select_stage

    where = stage_of(args)
    study, source = study_of(args, args.selections)
    known_stage(staged(study, source, "select"), where, source)
    sel = select_stage(study, *where, args.runs)
    sel.write(args.out)
    print(f"{'/'.join(where[1:])} {where[0]}: {sel.variant} ({sel.metric} {sel.score})")
    from crossrec.report.tuning import edge_warnings, staged_rows

    rows = staged_rows(args.selections, [where[1:]], {where[1:]: args.out})  # type: ignore[list-item]
    for warning in edge_warnings(rows, {"runs": []}):
        print(f"warning: {warning}", file=sys.stderr)


def cmd_confirm(args: argparse.Namespace) -> None:
    """A stage's confirmation (``stages.<stage>.confirm``): the top finalists that go on to more
    seeds, as a file, and their runs' run files."""
    from crossrec.study import open_study
    from crossrec.study.files import confirm_path
    from crossrec.study.selection import select_confirm

    stage, dataset, backbone, plugin = where = stage_of(args)
    expected = confirm_path(args.selections, *where)
    if Path(args.out) != expected:
        raise ConfigError(f"--out: {args.out} is not the stage's confirmation file {expected}")
    study, source = study_of(args, args.selections)
    known_stage(staged(study, source, "confirm"), where, source)
    confirm = select_confirm(study, *where, args.runs)
    confirm.write(args.out)
    step = ("confirm", stage, dataset, backbone, *([plugin] if stage == "align" else []))
    _write_runs(open_study(study.config, args.selections), args.runs, step)
    print(f"{dataset}/{backbone}/{plugin} {stage}: confirm {', '.join(confirm.top)}")


def cmd_rung(args: argparse.Namespace) -> None:
    """The points of a successive-halving rung that go on, as a rung file."""
    from crossrec.study.selection import select_rung

    where = stage_of(args)
    study, source = study_of(args, args.selections)
    known_stage(staged(study, source, "rung"), where, source)
    rung = select_rung(study, *where, args.rung, args.runs)
    rung.write(args.out)
    print(
        f"{'/'.join(where[1:])} {where[0]} rung {args.rung}: {rung.keep} of {len(rung.candidates)}"
    )


CONFIG_HEADER = "# the study's config as crossrec checked and ran it (crossrec config)\n"


def cmd_config(args: argparse.Namespace) -> None:
    """The checked config, defaults of the schema's coercion applied, as the YAML the study
    ran with (the report includes it)."""
    import yaml

    from crossrec.errors import OutputError
    from crossrec.io import atomic_open

    study, _ = study_of(args)
    if os.path.lexists(args.out):
        try:
            ours = Path(args.out).read_text().startswith(CONFIG_HEADER)
        except (OSError, UnicodeDecodeError):
            ours = False
        if not ours:
            raise OutputError(f"{args.out}: exists and was not written by crossrec config")
    with atomic_open(args.out) as fh:
        fh.write(CONFIG_HEADER + yaml.safe_dump(dict(study.config), sort_keys=False))


def cmd_estimate(args: argparse.Namespace) -> None:
    """Jobs and GPU- or CPU-hours per dataset, study, stage and the α×β grid, from the cost
    table with what the runs below --runs measured in its rows' place and the missing rows
    predicted from the nearest measured dataset size (each said)."""
    from crossrec.costs import CostTable, estimate, format_estimate
    from crossrec.costs.learned import with_learned
    from crossrec.run import train_settings

    study, _ = study_of(args)
    config = study.config
    device = args.device or ("cuda" if train_settings(config).device.startswith("cuda") else "cpu")
    table = with_learned(CostTable.load(device, args.costs), args.runs)
    print(format_estimate(estimate(config, table, args.epochs_to_stop)))


def add_parsers(sub: Any) -> None:  # noqa: ANN401
    """Register the study's verbs on the CLI's subparsers."""
    p = sub.add_parser("plan", help="a config's runs: plan.json and every run's run.yaml",
                       description=cmd_plan.__doc__)  # fmt: skip
    config_flags(p)
    p.add_argument("--out", type=Path, help="where to write plan.json")
    p.add_argument(
        "--data",
        type=Path,
        help="the prepared datasets' folder (results/data): train.topk checked against each "
        "prepared dataset's item count",
    )
    p.add_argument(
        "--runs",
        type=Path,
        help="write every run's run.yaml below this folder, every default filled in "
        "(<dataset>/<backbone>/<plugin>/<variant>/seed<seed>/run.yaml; crossrec train --run); "
        "files that already hold their run are left untouched",
    )
    p.set_defaults(func=cmd_plan)

    for name, func, what, out in (
        ("stage", cmd_stage, "the run files a stage's selection determines", "their list (JSON)"),
        ("select", cmd_select, "a stage's winner, as a selection file", "the selection file"),
        ("rung", cmd_rung, "a halving rung's survivors, as a rung file", "the rung file"),
        (
            "confirm",
            cmd_confirm,
            "a stage's finalists that go on to more seeds",
            "the confirmation file (beside the stage's selection)",
        ),
    ):
        p = sub.add_parser(name, help=what, description=func.__doc__)
        config_flags(p)
        stage_flags(p)
        if name == "rung":
            p.add_argument("--rung", type=int_in(0, 31), required=True, help="the rung (0, 1, ...)")
        p.add_argument("--runs", type=Path, required=True, help="root of the run folders")
        p.add_argument("--out", type=Path, required=True, help=out)
        p.set_defaults(func=func)

    p = sub.add_parser("study", help="a staged study's replicate runs (study.json)",
                       description=cmd_study.__doc__)  # fmt: skip
    config_flags(p)
    p.add_argument("--selections", type=Path, required=True, help="the selection files' folder")
    p.add_argument("--out", type=Path, required=True, help="where to write study.json")
    p.set_defaults(func=cmd_study)

    p = sub.add_parser("config", help="the checked config as the study ran it (YAML)",
                       description=cmd_config.__doc__)  # fmt: skip
    config_flags(p)
    p.add_argument("--out", type=Path, required=True, help="where to write it")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("estimate", help="what a study costs, from the measured cost tables",
                       description=cmd_estimate.__doc__)  # fmt: skip
    config_flags(p)
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        help="cost table to estimate with (default: cuda if train.device is cuda, else cpu)",
    )
    p.add_argument(
        "--epochs-to-stop",
        type=int,
        help="epochs each run is assumed to train before early stopping "
        "(default: min(train.epochs, 100))",
    )
    p.add_argument("--costs", type=Path, help="a cost table from benchmarks/bench_cost.py")
    p.add_argument(
        "--runs",
        type=Path,
        default=Path("results/runs"),
        help="learn rows from the finished runs below this folder (default results/runs, "
        "where it exists); their measurements win over the table's",
    )
    p.set_defaults(func=cmd_estimate)
