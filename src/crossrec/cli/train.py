"""``crossrec train``: one run on an MMRec-format folder, from its run file or from flags."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from crossrec.cli.args import (
    DefaultsFormatter,
    dataset_name,
    float_in,
    int_in,
    parse_assignments,
    seed_int,
    thread_count,
)
from crossrec.errors import ConfigError

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
    killing only the main snakemake process orphans no training. ConfigError when ``pid`` is
    gone already (nothing would train: the process would only stop itself)."""
    import signal
    import threading
    import time

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise ConfigError(
            f"--stop-with {pid}: no such process (the process this run should outlive is gone "
            "already; nothing trained)"
        ) from None
    except PermissionError:
        pass  # alive, another user's

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


def finished_progress(out: Path, run: Any) -> dict[str, Any] | None:  # noqa: ANN401 - a RunSpec
    """The progress (``Trainer.progress``'s keys) of a run folder that holds this run
    finished — its ``run.yaml`` defines ``run``, its ``metrics.json`` is that run's, and no
    checkpoint is left — else None. ``--resume`` on it has nothing to continue."""
    from crossrec.errors import CrossrecError
    from crossrec.run import IDENTITY, RUN_FILE, read_metrics, read_run_file
    from crossrec.train import resolve_run

    if (out / "checkpoint.pt").exists() or not (out / "metrics.json").is_file():
        return None
    try:
        if resolve_run(read_run_file(out / RUN_FILE)) != resolve_run(run):
            return None
        blob = read_metrics(out / "metrics.json")
    except (CrossrecError, OSError):
        return None
    identity = {field: getattr(run.key, field) for field in IDENTITY}
    if blob["identity"] != identity or blob.get("valid_metric") != run.train.valid_metric:
        return None
    return {
        "epochs_run": blob.get("epochs_run", blob["best_epoch"]),
        "best_epoch": blob["best_epoch"],
        "best_value": blob["valid"][run.train.valid_metric],
        "valid_metric": run.train.valid_metric,
        "finished": True,
    }


def _out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an allocation failure (CPU or CUDA; torch raises RuntimeError or its
    OutOfMemoryError subclass)."""
    text = str(err).lower()
    return isinstance(err, MemoryError) or "out of memory" in text or "can't allocate" in text


def cmd_train(args: argparse.Namespace) -> None:
    """Train one backbone × plug-in run and write its outputs."""
    import dataclasses

    import torch

    from crossrec.cli.logs import configure as configure_logging
    from crossrec.data.formats import load_mmrec
    from crossrec.kernels.heap import retain_freed_memory
    from crossrec.outputs import check_replaceable, only_names
    from crossrec.run import RUN_FILES
    from crossrec.tracking import make_tracker
    from crossrec.train import Trainer

    check_replaceable(args.out, only_names(RUN_FILES))  # before any work
    if args.progress is not None and (args.progress.is_dir() or args.progress.is_symlink()):
        raise ConfigError(f"--progress {args.progress}: a folder or a link, not a file to write")
    configure_logging(args.log_json)
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
    done = finished_progress(Path(args.out), run) if args.resume else None
    if done is not None:  # nothing to continue: leave the finished run as it is
        if args.progress is not None:
            from crossrec.io import write_json

            write_json(args.progress, done)
        print(f"{name}: finished already (best epoch {done['best_epoch']}); nothing to resume")
        return
    warn_if_long(run, data.name)
    observers = [make_tracker(backend, args.track_dir, name) for backend in args.track or []]
    try:
        trainer = Trainer(
            run,
            data,
            args.out,
            checkpoint_seconds=args.checkpoint_minutes * 60,
            observers=observers,
        )
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
    print(f"{name}: best epoch {metrics['best_epoch']}, {summary(metrics['test'], run)}")


def summary(test: dict[str, float], run: Any) -> str:  # noqa: ANN401 - a RunSpec
    """``test recall@20 0.3412 ndcg@20 0.2011``: the test metrics at the validation metric's
    cut-off (whatever ``train.topk`` computes)."""
    k = run.train.valid_metric.split("@")[1]
    shown = [name for name in test if name.endswith(f"@{k}")][:2]
    return "test " + " ".join(f"{name} {test[name]:.4f}" for name in shown)


def warn_if_long(run: Any, dataset: str) -> None:  # noqa: ANN401 - a RunSpec
    """One warning when the cost table (learned rows aside: a lone run has no study folder)
    predicts more than an hour for this run's epoch cap on its device kind."""
    import logging

    from crossrec.costs import CostTable, run_seconds
    from crossrec.costs.learned import with_learned

    device = "cuda" if run.train.device.startswith("cuda") else "cpu"
    try:
        table = with_learned(CostTable.load(device), None)
    except ConfigError:
        return
    row = table.row(dataset, run.backbone, run.plugin)
    if row is None:
        return
    hours = run_seconds(row, run.train.epochs) / 3600
    if hours > 1:
        logging.getLogger("crossrec.train").warning(
            f"the cost table predicts up to {hours:,.1f} h for this run ({run.train.epochs} "
            f"epochs at most on {device}; {table.source}); early stopping usually ends it sooner"
        )


def add_parsers(sub: Any) -> None:  # noqa: ANN401
    """Register ``train`` on the CLI's subparsers."""
    import dataclasses

    from crossrec.run import TrainConfig

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
        type=float_in(0.0, 1e6),
        default=10.0,
        metavar="M",
        help="write checkpoint.pt at an epoch's end at most every M minutes of wall time (0: "
        "after every epoch); also on SIGTERM (then exit 75) and when pausing",
    )
    p.add_argument(
        "--stop-with",
        type=int_in(1, 1 << 22),
        metavar="PID",
        help="stop as on SIGTERM (checkpoint, exit 75) when process PID is gone: the workflow "
        "passes its own pid, so a killed snakemake leaves no training job behind",
    )
    p.add_argument(
        "--pause-at-epoch",
        type=int_in(1, 1 << 30),
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
    p.add_argument(
        "--log-json", action="store_true", help="log one JSON object per line (time, level, ...)"
    )
    p.add_argument(
        "--track",
        action="append",
        choices=("tensorboard", "mlflow"),
        help="also write the run to an experiment tracker (repeatable; pip install "
        "'crossrec[tracking]'); never changes a result",
    )
    p.add_argument(
        "--track-dir",
        default="results/tracking",
        help="where trackers write: TensorBoard's log folder, MLflow's tracking URI or folder",
    )
    p.set_defaults(func=cmd_train)
