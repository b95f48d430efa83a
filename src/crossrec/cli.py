"""``crossrec`` command line: one subcommand per workflow step.

    crossrec download --dataset ml100k --source ml100k --out resources/ml100k
    crossrec prepare  --dataset ml100k --source ml100k --raw resources/ml100k --out results/data/ml100k
    crossrec train    --data results/data/ml100k --backbone lightgcn --param n_layers=2 --out DIR
    crossrec train    --data results/data/ml100k --run results/runs/ml100k/.../seed1/run.yaml --out DIR
    crossrec plan     --config config/config.yaml --out results/plan.json --runs results/runs
    crossrec plan     --config config/paper.yaml --estimate
    crossrec tables   --plan results/plan.json --runs results/runs --out results/tables
    crossrec figures  --plan results/plan.json --runs results/runs --out results/figures
    crossrec list     (registered backbones and plug-ins)
    crossrec synth    --shape baby --out DIR   (a seeded synthetic folder of Baby's shape)

Errors in the input print one line (``crossrec: error: <file or key>: <problem>``) and exit with
2; a training run whose loss becomes NaN or infinite exits with 3 (one line naming the epoch and
the loss term); one stopped by SIGTERM exits with 75 after writing its checkpoint; any other exit
status means an internal failure.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from crossrec import __version__
from crossrec.config import describe_range, describe_type, field_docs, parse_scalar
from crossrec.errors import ConfigError, CrossrecError
from crossrec.run import check_dataset_name


def parse_assignments(items: Sequence[str] | None, flag: str) -> dict[str, Any]:
    """``["a=1", "b=[1, 2]"]`` → ``{"a": 1, "b": [1, 2]}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = parse_scalar(value)
        except ConfigError as err:
            raise ConfigError(f"{flag} {key.strip()}: {err}") from None
    return out


def dataset_name(text: str) -> str:
    """argparse type of ``--dataset``: an identifier, never a path."""
    try:
        return check_dataset_name(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--dataset: ")) from None


def _number_in(kind: type, low: float, high: float) -> Callable[[str], Any]:
    """An argparse type: a ``kind`` (int or float) in [low, high] (NaN is never in range)."""
    what = "an integer" if kind is int else "a number"

    def parse(text: str) -> Any:  # noqa: ANN401
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range ({low:g} to {high:g})")
        return value

    return parse


def _int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high]."""
    return _number_in(int, low, high)


def _float_in(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high]."""
    return _number_in(float, low, high)


thread_count = _int_in(0, 1024)  # 0: torch's default
seed_int = _int_in(0, 2**32 - 1)  # numpy's seeding range
k_int = _int_in(1, 1 << 16)


def _source(args: argparse.Namespace) -> tuple[Any, Any]:
    """The ``--source`` and its typed options from the flags given (``--path``, ``--cookies``,
    ``--split-seed``, ``--allow-variant``, ``--option KEY=VALUE``; crossrec.data.sources)."""
    from crossrec.data.sources import source_params

    options = parse_assignments(args.option, "--option")
    for key in ("path", "cookies", "split_seed"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    if args.allow_variant:
        options["allow_variant"] = True
    return source_params(args.source, options, f"--source {args.source}")


def cmd_download(args: argparse.Namespace) -> None:
    """Fetch a dataset's raw files into ``--out``."""
    source, params = _source(args)
    source.download(args.dataset, args.out, params)
    print(f"{args.dataset}: raw files in {args.out}", file=sys.stderr)


def cmd_prepare(args: argparse.Namespace) -> None:
    """Turn the raw files into an MMRec-format folder and print its counts."""
    from crossrec.data.needs import DataNeeds
    from crossrec.data.prepare import describe

    source, params = _source(args)
    needs = DataNeeds(
        frozenset(args.neighbors_k or ()), frozenset(args.knn_k or ()), args.user_graph
    )
    print(describe(source.prepare(args.raw, args.out, args.dataset, params, needs)))


def json_arg(text: str, flag: str) -> Any:  # noqa: ANN401
    """A JSON-valued flag (``--config-json``) parsed; ConfigError naming the flag when it is not
    JSON."""
    from crossrec.safeload import parse_json

    return parse_json(text, flag, ConfigError)


RUN_FLAGS = ("backbone", "plugin", "param", "plugin_param", "train", "seed", "dataset", "variant")


def _run_from_args(args: argparse.Namespace) -> tuple[Any, bool]:  # (RunSpec, named)
    """The run of ``crossrec train``: from ``--run FILE`` (a run folder's ``run.yaml``) or from
    the flags, both through :meth:`crossrec.run.RunSpec.from_dict`. ``named``: False when the
    dataset name is to be the folder's (flags without ``--dataset``)."""
    from crossrec.run import RunSpec, read_run_file

    if args.run is not None:
        given = [f"--{f.replace('_', '-')}" for f in RUN_FLAGS if getattr(args, f) is not None]
        if given:
            raise ConfigError(f"{given[0]}: give the run either with --run or as flags")
        return read_run_file(args.run), True
    if args.backbone is None:
        raise ConfigError("--backbone: required (or give the whole run with --run FILE)")
    blob = {
        "dataset": args.dataset or "",
        "backbone": args.backbone,
        "plugin": args.plugin or "none",
        "variant": args.variant or "default",
        "seed": 999 if args.seed is None else args.seed,
        "backbone_params": parse_assignments(args.param, "--param"),
        "plugin_params": parse_assignments(args.plugin_param, "--plugin-param"),
        "train": parse_assignments(args.train, "--train"),
    }
    return RunSpec.from_dict(blob, "train"), args.dataset is not None


def stop_with(pid: int, every: float = 1.0) -> None:
    """Send this process SIGTERM once process ``pid`` is gone (polled every ``every`` s by a
    daemon thread): the trainer then finishes its epoch, writes its checkpoint and exits 75,
    as at a SLURM time limit. A training job started by Snakemake gets Snakemake's pid, so
    killing only the main snakemake process orphans no training."""
    import signal
    import threading
    import time

    def watch() -> None:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            except PermissionError:
                pass  # alive, another user's
            time.sleep(every)

    threading.Thread(target=watch, name="crossrec-stop-with", daemon=True).start()


def _out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an allocation failure (CPU or CUDA; torch raises RuntimeError or its
    OutOfMemoryError subclass)."""
    text = str(err).lower()
    return isinstance(err, MemoryError) or "out of memory" in text or "can't allocate" in text


def cmd_train(args: argparse.Namespace) -> None:
    """Train one backbone × plug-in run and write its outputs."""
    import dataclasses

    import torch

    from crossrec.data.formats import load_mmrec
    from crossrec.kernels.heap import retain_freed_memory
    from crossrec.outputs import check_replaceable, only_names
    from crossrec.run import RUN_FILES
    from crossrec.train import Trainer

    check_replaceable(args.out, only_names(RUN_FILES))  # before any work
    if args.stop_with is not None:
        stop_with(args.stop_with)
    run, named = _run_from_args(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    retain_freed_memory()  # this process is the run's: no page faults on reused buffers
    data = load_mmrec(args.data)
    if not named:
        run = dataclasses.replace(run, dataset=data.name)
    name = run.key.path()
    if args.expect is not None and name != args.expect:
        raise ConfigError(
            f"{args.run or 'the run'}: defines {name}, not {args.expect} (its identity keys "
            "name its folder: edit parameters and trainer settings only)"
        )
    try:
        trainer = Trainer(run, data, args.out, checkpoint_seconds=args.checkpoint_minutes * 60)
        metrics = trainer.fit(resume=args.resume, pause_at=args.pause_at_epoch)
    except (MemoryError, RuntimeError) as err:
        if not _out_of_memory(err):
            raise
        raise ConfigError(
            f"{name}: out of memory at train.batch_size {run.train.batch_size} "
            f"({str(err).strip().splitlines()[0][:160] if str(err).strip() else 'MemoryError'});"
            " lower train.batch_size (e.g. DirectAU's uniformity is batch x batch) or give the "
            "job more memory"
        ) from None
    if args.progress is not None:
        from crossrec.io import write_json

        write_json(args.progress, trainer.progress())
    if metrics is None:
        print(f"{name}: paused after epoch {trainer.state.epoch} (--resume continues it)")
        return
    test = metrics["test"]
    print(
        f"{name}: best epoch {metrics['best_epoch']}, test recall@20 {test['recall@20']:.4f} "
        f"ndcg@20 {test['ndcg@20']:.4f}"
    )


def _config(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """The checked workflow config of ``--config FILE`` or ``--config-json``, and how errors
    name it."""
    from crossrec.workflow_config import checked

    if args.config_json is not None:
        source = "--config-json"
        config = json_arg(args.config_json, source)
    else:
        from crossrec.safeload import load_yaml

        source = args.config
        config = load_yaml(args.config, ConfigError)
    try:
        return checked(config), source
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def _step(args: argparse.Namespace) -> tuple[str, ...]:
    """``("plan",)``, or the stage whose selection ``--stage/--dataset/--backbone/--plugin``
    name (crossrec.stages)."""
    if args.stage is None:
        return ("plan",)
    if (
        args.dataset is None
        or args.backbone is None
        or (args.stage == "align") != bool(args.plugin)
    ):
        raise ConfigError(
            "--stage: give --dataset and --backbone, and --plugin for the align stage only"
        )
    if args.selections is None:
        raise ConfigError("--stage: give --selections (the folder of the selection files)")
    return (args.stage, args.dataset, args.backbone, *([args.plugin] if args.plugin else []))


def cmd_plan(args: argparse.Namespace) -> None:
    """Expand a workflow config into ``plan.json`` (every run, its study and parameters) and
    the runs' ``run.yaml`` files; in a staged study, after a selection, the runs it determines."""
    from crossrec.errors import OutputError
    from crossrec.experiment import Experiment
    from crossrec.io import write_json
    from crossrec.safeload import read_json

    config, _ = _config(args)
    step = _step(args)
    experiment = Experiment(config, selections=args.selections)
    if args.estimate:
        from crossrec.costs import CostTable, estimate, format_estimate
        from crossrec.run import train_settings

        device = args.device or (
            "cuda" if train_settings(config).device.startswith("cuda") else "cpu"
        )
        table = CostTable.load(device, args.costs)
        print(format_estimate(estimate(config, table, args.epochs_to_stop)))
    if args.out is None and args.runs is None:
        if not args.estimate:
            raise ConfigError(
                "plan: give --out (where to write plan.json), --runs, --estimate, or several"
            )
        return
    if args.out is not None and os.path.lexists(args.out):  # checked before anything is written
        try:
            old = read_json(args.out, "")
        except CrossrecError:
            old = None
        ours = isinstance(old, dict) and "runs" in old
        if not ours:
            raise OutputError(
                f"{args.out}: exists and is not a crossrec plan; refusing to replace it"
            )
    if args.runs is not None:
        from crossrec.io import check_writable

        check_writable(args.runs)
        n, written = experiment.write_run_files(args.runs, step)
        print(f"{n} runs ({written} run files written) -> {args.runs}/", file=sys.stderr)
    if args.out is None:
        return
    if step == ("plan",):
        plan = experiment.plan()
    else:  # the runs this selection determined
        plan = {"step": list(step), "runs": [k.path() for k in experiment.runs_determined_by(step)]}
    write_json(args.out, plan)
    print(f"{len(plan['runs'])} planned runs -> {args.out}", file=sys.stderr)


def cmd_select(args: argparse.Namespace) -> None:
    """A staged study's selection (crossrec.stages): with ``--rung R``, the points of a
    successive-halving rung that go on (by best-so-far validation value); else the stage's
    best finalist on validation (or test with ``selection: mmrec_test``), as a selection file
    listing every candidate (an eliminated one with its score at the rung it stopped at)."""
    from crossrec.experiment import Experiment
    from crossrec.run import read_metrics, train_settings
    from crossrec.safeload import read_json
    from crossrec.stages import Rung, Selection, best, survivors

    config, source = _config(args)
    step = _step(args)
    experiment = Experiment(config, selections=args.selections)
    if not experiment.staged:
        raise ConfigError(f"{source}: select: the config has no `stages:` (a flat study)")
    stage, dataset, backbone = step[:3]
    plugin = step[3] if stage == "align" else "none"
    if not experiment.stage_runs(stage, dataset, backbone, plugin):
        raise ConfigError(
            f"{dataset}/{backbone}/{plugin}: the {stage} stage is pinned or not yet reached"
        )
    paused, finalists = experiment.rungs(stage, dataset, backbone, plugin)

    def progress(key: Any, rung: int) -> dict[str, Any]:  # noqa: ANN401
        blob = read_json(args.runs / key.path() / f"rung{rung}.json", "did the rung fail?")
        return {"variant": key.variant, "run": key.path(), **blob}

    if args.rung is not None:
        if args.rung >= len(paused):
            raise ConfigError(f"--rung {args.rung}: the {stage} stage has {len(paused)} rung(s)")
        rows = [progress(key, args.rung) for key in paused[args.rung]]
        eta = experiment.halving(stage)[0]  # type: ignore[index]
        kept = survivors([(r["variant"], r["best_value"]) for r in rows], eta)
        epochs = experiment.rung_epochs(stage, args.rung)
        Rung(stage, args.rung, epochs, len(kept), rows, kept).write(args.out)
        print(f"{dataset}/{backbone}/{plugin} {stage} rung {args.rung}: {len(kept)} of {len(rows)}")
        return
    if finalists is None:
        raise ConfigError(f"{args.selections}: a rung of {dataset}/{backbone}/{plugin} is missing")
    split = "test" if experiment.selection == "mmrec_test" else "valid"
    metric = train_settings(config).valid_metric
    candidates = []
    for key in finalists:
        blob = read_metrics(args.runs / key.path() / "metrics.json")
        candidates.append({"variant": key.variant, "run": key.path(), "score": blob[split][metric],
                           "epochs_run": blob["epochs_run"]})  # fmt: skip
    variant, score = best([(c["variant"], c["score"]) for c in candidates])
    final = {k.variant for k in finalists}
    for rung, keys in reversed(list(enumerate(paused))):  # eliminated: where they stopped
        for key in keys:
            if key.variant not in final and all(c["variant"] != key.variant for c in candidates):
                row = progress(key, rung)
                candidates.append({"variant": key.variant, "run": key.path(),
                                   "score": row["best_value"], "epochs_run": row["epochs_run"],
                                   "stopped_at_rung": rung})  # fmt: skip
    var = experiment.variant(backbone, plugin, variant)
    point = {
        k: var.grid[k] for k in var.grid if k in experiment.stage_keys(stage, backbone, plugin)
    }
    Selection(stage, dataset, backbone, plugin, variant, point, score, f"{split} {metric}",
              finalists[0].seed, candidates).write(args.out)  # fmt: skip
    print(f"{dataset}/{backbone}/{plugin} {stage}: {variant} ({split} {metric} {score})")


def _plan_runs(args: argparse.Namespace) -> tuple[dict, Any, Any]:
    from crossrec.report.stats import check_correction, select
    from crossrec.report.summary import load_runs, read_plan

    plan = read_plan(args.plan)
    tables = plan.get("tables") if isinstance(plan.get("tables"), dict) else {}
    check_correction(tables.get("correction", "bh"), args.plan)
    runs = load_runs(plan, args.runs)
    return plan, runs, select(runs, by=plan["selection"])


def cmd_tables(args: argparse.Namespace) -> None:
    """All tables of the study (``crossrec.report.tables``) as .md, .csv and .tex."""
    from crossrec.models import BACKBONES
    from crossrec.outputs import check_replaceable, claim_dir, only_names
    from crossrec.report import TABLE_FORMATS, TABLES
    from crossrec.report.tables import build_tables

    plan, runs, selection = _plan_runs(args)
    own = only_names(f"{n}.{e}" for n in TABLES for e in TABLE_FORMATS)
    check_replaceable(args.out, own)  # refused before any work; claimed after it
    families = {
        name: "multi-modal" if BACKBONES[name].uses_modalities else "CF"
        for name in runs["backbone"].unique()
    }
    plugins = list(dict.fromkeys(r["plugin"] for r in plan["runs"] if r["study"] == "main"))
    ks = plan["tables"].get("k", [5])
    correction = plan["tables"].get("correction", "bh")
    build_tables(
        runs, selection, args.runs, ks, plugins, families, args.out, correction,
        claim=functools.partial(claim_dir, kind="tables", legacy=own),
    )  # fmt: skip
    print(f"{len(runs)} runs -> {args.out}/{{{','.join(TABLES)}}}.{{md,csv,tex}}", file=sys.stderr)


def cmd_figures(args: argparse.Namespace) -> None:
    """All figures of the study (``crossrec.report.figures``) as .png and .pdf."""
    from crossrec.outputs import check_replaceable, claim_dir, only_names
    from crossrec.report import FIGURE_FORMATS, FIGURES
    from crossrec.report.figures import build_figures

    plan, runs, selection = _plan_runs(args)
    own = only_names(f"{n}.{e}" for n in FIGURES for e in FIGURE_FORMATS)
    check_replaceable(args.out, own)  # refused before any work; claimed after it
    build_figures(
        runs, selection, args.runs, args.out, plan["tables"].get("correction", "bh"),
        claim=functools.partial(claim_dir, kind="figures", legacy=own),
    )  # fmt: skip
    print(f"{len(runs)} runs -> {args.out}/{{{','.join(FIGURES)}}}.{{png,pdf}}", file=sys.stderr)


def cmd_synth(args: argparse.Namespace) -> None:
    """Write a seeded synthetic MMRec folder with a real dataset's shape."""
    from crossrec.data.synthetic import write_synthetic

    summary = write_synthetic(
        args.out, args.dataset or args.shape, args.shape, args.seed, args.scale
    )
    print(
        f"{args.out}: synthetic {args.shape} (scale {args.scale}, seed {args.seed}): "
        f"{summary['users']:,} users, {summary['items']:,} items, "
        f"{summary['interactions']:,} interactions; features "
        + ", ".join(f"{m} {w[1]}-d" for m, w in summary["features"].items())
    )


def cmd_list(args: argparse.Namespace) -> None:
    """Print the registered backbones, plug-ins and dataset sources with their parameters, and
    the trainer's settings: name, type and range, default, description."""
    from crossrec.align import PLUGINS
    from crossrec.data.sources import SOURCES
    from crossrec.models import BACKBONES
    from crossrec.run import TrainConfig

    for kind, registry in (("backbone", BACKBONES), ("plugin", PLUGINS), ("source", SOURCES)):
        for name in registry:
            about = getattr(registry[name], "description", "")
            print(f"{kind} {name}" + (f"  — {about}" if about and kind == "source" else ""))
            _print_fields(registry[name].Params)
    print("train  (a config's train: section; crossrec train --train KEY=VALUE)")
    _print_fields(TrainConfig)


def _print_fields(cls: type) -> None:
    """One line per field of dataclass ``cls`` (name, type and range, default), its description
    below it."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls, include_extras=True)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind_of = describe_type(hints[f.name]) + describe_range(cls, f.name)
        print(f"    {f.name:22s} {kind_of:34s} default {_default(f)!r}")
        if f.name in docs:
            print(textwrap.fill(docs[f.name], 96, initial_indent=" " * 8,
                                subsequent_indent=" " * 8))  # fmt: skip


def cmd_schema(args: argparse.Namespace) -> None:
    """Print the config's JSON Schema with every registered parameter (crossrec.params_schema)."""
    from crossrec.params_schema import config_schema

    print(json.dumps(config_schema(), indent=1))


def _default(f: Any) -> Any:  # noqa: ANN401
    """A dataclass field's default value, ``default_factory`` included."""
    import dataclasses

    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that states an option's default when there is one worth stating (not None/False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``crossrec <command>: error: <problem>`` (exit 2); the
    usage stays available under ``--help``."""

    def error(self, message: str) -> NoReturn:
        """Print one line and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _stage_flags(p: argparse.ArgumentParser, required: bool = False) -> None:
    """``--stage``, ``--dataset``, ``--backbone``, ``--plugin``, ``--selections`` (staged studies)."""
    p.add_argument("--stage", choices=("tune", "align"), required=required,
                   help="a staged study's stage (crossrec.stages)")  # fmt: skip
    p.add_argument("--dataset", type=dataset_name, help="the stage's dataset")
    p.add_argument("--backbone", help="the stage's backbone")
    p.add_argument("--plugin", help="the align stage's plug-in")
    p.add_argument(
        "--selections", type=Path, help="the folder of the selection files (results/selections)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    import dataclasses

    from crossrec.run import TrainConfig

    doc = __doc__.replace("``", "")
    parser = Parser(
        prog="crossrec",
        description=doc.splitlines()[0],
        epilog="examples:\n" + doc.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"crossrec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    for name, func, what in (
        ("download", cmd_download, "fetch a dataset's raw files"),
        ("prepare", cmd_prepare, "raw files -> MMRec-format folder"),
    ):
        p = sub.add_parser(name, help=what)
        p.add_argument("--dataset", required=True, type=dataset_name)
        p.add_argument(
            "--source",
            required=True,
            help="ml100k, amazon, tiktok, folder, or one an installed package registers "
            "(crossrec list)",
        )
        if name == "prepare":
            p.add_argument("--raw", type=Path, required=True, help="the downloaded raw files")
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--path", help="the MMRec-format folder (source folder)")
        p.add_argument(
            "--cookies",
            help="Netscape cookie file for Google Drive (source amazon), see docs/datasets.md",
        )
        p.add_argument(
            "--split-seed", type=seed_int, help="seed of the per-user split (source ml100k)"
        )
        p.add_argument(
            "--allow-variant",
            action="store_true",
            help="accept data whose statistics differ from the published ones",
        )
        p.add_argument(
            "--option",
            action="append",
            metavar="KEY=VALUE",
            help="any option of the source (repeatable; the workflow passes the dataset's "
            "config entry this way)",
        )
        p.set_defaults(func=func)
    p = sub.choices["prepare"]  # what the planned models need (the workflow derives it)
    p.add_argument(
        "--user-graph", action="store_true", help="write DualGNN's user co-occurrence graph"
    )
    p.add_argument(
        "--neighbors-k",
        type=k_int,
        nargs="*",
        metavar="K",
        help="write neighbors_k{K}.npy (CNA item neighbours) for each K",
    )
    p.add_argument(
        "--knn-k",
        type=k_int,
        nargs="*",
        metavar="K",
        help="write feature-kNN item graphs knn_<modality>_k<K>_<hash>.npy (FREEDOM) for each K",
    )

    p = sub.add_parser(
        "train",
        help="train one run on an MMRec-format folder",
        description="Train one run; parameters are checked against the backbone's and plug-in's "
        "types (crossrec list shows them).",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("--data", type=Path, required=True, help="MMRec-format dataset folder")
    p.add_argument(
        "--run",
        type=Path,
        help="the whole run as a YAML file (a run folder's run.yaml, which the workflow trains "
        "from), instead of the flags below",
    )
    p.add_argument("--backbone", help="backbone name (crossrec list)")
    p.add_argument("--plugin", help="alignment plug-in name (crossrec list) (default: none)")
    p.add_argument(
        "--param", action="append", metavar="KEY=VALUE", help="backbone parameter (repeatable)"
    )
    p.add_argument(
        "--plugin-param",
        action="append",
        metavar="KEY=VALUE",
        help="plug-in parameter (repeatable)",
    )
    p.add_argument(
        "--train",
        action="append",
        metavar="KEY=VALUE",
        help="trainer setting (repeatable): "
        + ", ".join(f.name for f in dataclasses.fields(TrainConfig))
        + " (crossrec list describes them)",
    )
    p.add_argument("--seed", type=seed_int, help="seed of the run (default: 999)")
    p.add_argument(
        "--dataset",
        type=dataset_name,
        help="dataset name recorded in metrics.json (default: the folder's)",
    )
    p.add_argument("--variant", help="variant name recorded in metrics.json (default: default)")
    p.add_argument(
        "--threads", type=thread_count, default=0, help="torch threads (0: torch default)"
    )
    p.add_argument("--resume", action="store_true", help="continue from checkpoint.pt if any")
    p.add_argument(
        "--checkpoint-minutes",
        type=_float_in(0.0, 1e6),
        default=10.0,
        metavar="M",
        help="write checkpoint.pt at an epoch's end at most every M minutes of wall time (0: "
        "after every epoch); also on SIGTERM (then exit 75) and when pausing",
    )
    p.add_argument(
        "--stop-with",
        type=_int_in(1, 1 << 22),
        metavar="PID",
        help="stop as on SIGTERM (checkpoint, exit 75) when process PID is gone: the workflow "
        "passes its own pid, so a killed snakemake leaves no training job behind",
    )
    p.add_argument(
        "--pause-at-epoch",
        type=_int_in(1, 1 << 30),
        metavar="N",
        help="stop after N epochs (unless the run finished first), leaving checkpoint.pt; "
        "--resume later continues to the same result as a run never paused",
    )
    p.add_argument(
        "--progress",
        type=Path,
        metavar="FILE",
        help="write the run's progress as JSON when it pauses or finishes (epochs run, best "
        "validation value so far, finished): a successive-halving rung's result",
    )
    p.add_argument(
        "--expect",
        metavar="RUN",
        help="refuse a run that is not RUN (<dataset>/<backbone>/<plugin>/<variant>/seed<seed>; "
        "the workflow passes its run folder's, so an edited run.yaml cannot train another run "
        "into it)",
    )
    p.add_argument("--out", type=Path, required=True, help="run folder to write")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("plan", help="expand a workflow config into the list of runs")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="workflow config YAML")
    src.add_argument("--config-json", help="the resolved config as JSON (the workflow passes it)")
    p.add_argument("--out", type=Path, help="where to write plan.json")
    p.add_argument(
        "--estimate",
        action="store_true",
        help="print jobs and GPU- or CPU-hours per dataset, study and the alpha x beta grid, "
        "from the measured cost table (crossrec.costs)",
    )
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
    _stage_flags(p)
    p.add_argument(
        "--runs",
        type=Path,
        help="write every run's run.yaml below this folder, every default filled in "
        "(<dataset>/<backbone>/<plugin>/<variant>/seed<seed>/run.yaml; crossrec train --run); "
        "files that already hold their run are left untouched",
    )
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser(
        "select", help="a staged study's selection: the best candidate of one stage, as a file"
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="workflow config YAML")
    src.add_argument("--config-json", help="the resolved config as JSON (the workflow passes it)")
    _stage_flags(p, required=True)
    p.add_argument(
        "--rung",
        type=_int_in(0, 31),
        help="a successive-halving rung: write which of its points go on (a rung file)",
    )
    p.add_argument("--runs", type=Path, required=True, help="root of the run folders")
    p.add_argument("--out", type=Path, required=True, help="the selection (or rung) file")
    p.set_defaults(func=cmd_select)

    for name, func, what in (
        ("tables", cmd_tables, "the study's tables (.md, .csv, .tex)"),
        ("figures", cmd_figures, "the study's figures (.png, .pdf)"),
    ):
        p = sub.add_parser(name, help=what)
        p.add_argument("--plan", type=Path, required=True, help="plan.json from `crossrec plan`")
        p.add_argument("--runs", type=Path, required=True, help="root of the run folders")
        p.add_argument("--out", type=Path, required=True, help="output folder")
        p.set_defaults(func=func)

    p = sub.add_parser("list", help="registered backbones, plug-ins and sources")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "schema",
        help="the config's JSON Schema, every registered parameter included (for editors)",
    )
    p.set_defaults(func=cmd_schema)

    from crossrec.data.synthetic import SHAPES

    p = sub.add_parser(
        "synth", help="a seeded synthetic MMRec folder with a real dataset's shape (benchmarks)"
    )
    p.add_argument("--shape", choices=sorted(SHAPES), required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--dataset", type=dataset_name, help="name of the .inter file (default: shape)")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument(
        "--scale", type=float, default=1.0, help="users and items x scale, interactions x scale^2"
    )
    p.set_defaults(func=cmd_synth)
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
