"""Config -> targets and rule parameters. Input functions only; no lambdas in rules.

The experiment matrix (studies, grids, variants) is expanded by `crossrec.experiment`, the same
code `crossrec plan` runs, so the DAG and the tables agree on what a run is.
"""

import json
import os
import shlex
import sys
from pathlib import Path

from crossrec.experiment import Experiment
from crossrec.report import (
    FIGURE_FORMATS,
    FIGURES,
    REPORT_FORMATS,
    REPORT_STUDY,
    TABLE_FORMATS,
    TABLES,
)
from crossrec.run import RUN_FILE, RUN_PATH, RunKey, train_settings
from crossrec.errors import CrossrecError
from crossrec.stages import selection_path
from crossrec.workflow_config import check_run_file
from snakemake.exceptions import WorkflowError


wildcard_constraints:
    rung=r"\d+",
    dataset=r"[A-Za-z][A-Za-z0-9_\-]{0,63}",
    backbone=r"[A-Za-z0-9_]+",
    plugin=r"[A-Za-z0-9_]+",
    variant=r"[A-Za-z0-9_.=+\-]+",
    seed=r"\d+",


# {dataset}/{backbone}/{plugin}/{variant}/seed{seed}, as RunKey.path() fills it in
RUN_NAME = RUN_PATH
RUN_DIR = f"results/runs/{RUN_NAME}"
SELECTIONS = "results/selections"  # a staged study's selection files (crossrec.stages)
EXPERIMENT = Experiment(config, selections=Path(SELECTIONS))
TRAIN = train_settings(config)  # the trainer settings, defaults filled in


def all_datasets():
    """The prepared folder of every configured dataset."""
    return expand("results/data/{dataset}", dataset=EXPERIMENT.datasets)


def _run_path(key, name):
    """File `name` of a run's folder."""
    return f"results/runs/{key.path()}/{name}"


def all_runs(name):
    """File `name` of every planned run (all studies)."""
    return [_run_path(key, name) for key in EXPERIMENT.runs()]


def all_metrics():
    """metrics.json of every planned run."""
    return all_runs("metrics.json")


def all_tables():
    """Every table file (results/tables/<name>.<format>)."""
    return expand("results/tables/{name}.{ext}", name=TABLES, ext=TABLE_FORMATS)


def all_figures():
    """Every figure file (results/figures/<name>.<format>)."""
    return expand("results/figures/{name}.{ext}", name=FIGURES, ext=FIGURE_FORMATS)


def reported(path, kind):
    """`path` (results/<kind>s/<name>.<ext>) as a report item: its own caption
    (workflow/report/<kind>s/<name>.rst), the study it belongs to as category, and labels —
    in one format per output (REPORT_FORMATS: a table's csv, a figure's png); other formats
    are plain outputs.
    """
    name, ext = Path(path).stem, Path(path).suffix.lstrip(".")
    if ext not in REPORT_FORMATS:  # each table and figure once in the report
        return path
    return report(
        path,
        caption=f"../report/{kind}s/{name}.rst",
        category=REPORT_STUDY[name],
        subcategory=kind.title() + "s",
        labels={kind: name, "format": ext},
    )


def _assignments(flag, mapping):
    return " ".join(
        f"{flag} {shlex.quote(f'{key}={value}')}"
        for key, value in (mapping or {}).items()
    )


def source_args(wildcards):
    """`--source NAME --option KEY=VALUE ...`: the dataset's config entry, for the download and
    prepare steps alike (each source's Params say which options it takes)."""
    spec = dict(config["datasets"][wildcards.dataset])
    source = spec.pop("source")
    return f"--source {source} {_assignments('--option', spec)}".rstrip()


def prepare_args(wildcards):
    """`--neighbors-k ... --knn-k ... [--user-graph]`: the files the planned backbones and
    plug-ins declare (Backbone.data_needs / Plugin.data_needs)."""
    needs = EXPERIMENT.data_needs()
    ks = " ".join(str(k) for k in sorted(needs.neighbors_k))
    knn = " ".join(str(k) for k in sorted(needs.item_knn_k))
    graph = " --user-graph" if needs.user_graph else ""
    return f"--neighbors-k {ks} --knn-k {knn}{graph}"


def _after(step):
    """Wait for the checkpoint that writes the run files of `step` (crossrec.experiment.
    Experiment.determined_by): the study's `plan`, or a staged study's selection."""
    if step[0] == "plan":
        checkpoints.plan.get()
    elif step[0] == "tune":
        checkpoints.stage_tune.get(dataset=step[1], backbone=step[2])
    else:
        checkpoints.stage_align.get(dataset=step[1], backbone=step[2], plugin=step[3])


def chosen(dataset, backbone, plugin):
    """A staged study's variant of (dataset, backbone, plug-in) for the replicate stage, once
    its selections are made (the DAG grows after each)."""
    if not EXPERIMENT.is_pinned(dataset, backbone):
        _after(("tune", dataset, backbone))
    if plugin != "none" and not EXPERIMENT.is_pinned(dataset, backbone, plugin):
        _after(("align", dataset, backbone, plugin))
    return EXPERIMENT.chosen(dataset, backbone, plugin)


def study_runs(name):
    """File `name` of every run the tables read: every planned run of a flat study; the
    replicate runs of a staged one and its ablation and sensitivity runs at the selected
    backbone points (known after its selections)."""
    if not EXPERIMENT.staged:
        return all_runs(name)
    out = []
    for dataset in EXPERIMENT.datasets:
        for backbone in config["backbones"]:
            for plugin in ["none", *EXPERIMENT.plugins_of(dataset, backbone)]:
                variant = chosen(dataset, backbone, plugin)
                for seed in EXPERIMENT.seeds:
                    out.append(
                        _run_path(
                            RunKey(dataset, backbone, plugin, variant, seed), name
                        )
                    )
            point = chosen(dataset, backbone, "none")
            for _, key, _ in EXPERIMENT.selected_studies(dataset, backbone, point):
                out.append(_run_path(key, name))
    return out


def study_metrics(wildcards):
    """metrics.json of every run the tables and figures read (an input function: in a staged
    study the runs are known after the selections)."""
    return study_runs("metrics.json")


def study_per_user(wildcards):
    """test_per_user.csv of every run the tables read."""
    return study_runs("test_per_user.csv")


def study_history(wildcards):
    """history.csv of every run the figures read."""
    return study_runs("history.csv")


def study_file():
    """The plan the tables and figures read: results/plan.json, or a staged study's
    results/study.json (its replicate runs, written once every selection is made)."""
    return "results/study.json" if EXPERIMENT.staged else "results/plan.json"


def tune_stages():
    """The tune stage of every (dataset, backbone) a staged study tunes (static paths, so a dry
    run before any selection shows every dataset's tune runs, not the first one's only).
    """
    return [
        str(
            selection_path(SELECTIONS, "tune", dataset, backbone, "none").with_suffix(
                ".runs.json"
            )
        )
        for dataset in (EXPERIMENT.datasets if EXPERIMENT.staged else [])
        for backbone in config["backbones"]
        if not EXPERIMENT.is_pinned(dataset, backbone)
    ]


def selection_files(wildcards):
    """Every selection file of a staged study (the `study` rule's input)."""
    study_runs("metrics.json")  # waits for every selection
    out = []
    for dataset in EXPERIMENT.datasets:
        for backbone in config["backbones"]:
            if not EXPERIMENT.is_pinned(dataset, backbone):
                out.append(
                    str(selection_path(SELECTIONS, "tune", dataset, backbone, "none"))
                )
            for plugin in EXPERIMENT.plugins_of(dataset, backbone):
                if not EXPERIMENT.is_pinned(dataset, backbone, plugin):
                    path = selection_path(
                        SELECTIONS, "align", dataset, backbone, plugin
                    )
                    out.append(str(path))
    return out


def _rung_selected(stage, dataset, backbone, plugin, rung):
    """Wait for a successive-halving rung's selection."""
    if stage == "tune":
        checkpoints.select_rung_tune.get(dataset=dataset, backbone=backbone, rung=rung)
    else:
        checkpoints.select_rung_align.get(
            dataset=dataset, backbone=backbone, plugin=plugin, rung=rung
        )


def halving(stage, dataset, backbone, plugin, upto=None):
    """(runs paused at each rung, finalists) of a stage (crossrec.experiment.Experiment.rungs),
    waiting for each rung's selection in turn — or, with `upto`, only until rung `upto` is
    known."""
    if stage == "align" and plugin != "none":
        chosen(dataset, backbone, "none")
    while True:
        paused, final = EXPERIMENT.rungs(stage, dataset, backbone, plugin)
        if final is not None or (upto is not None and len(paused) > upto):
            return paused, final
        _rung_selected(stage, dataset, backbone, plugin, len(paused) - 1)
        if EXPERIMENT.rungs(stage, dataset, backbone, plugin) == (paused, final):
            raise WorkflowError(
                f"{stage} rung {len(paused) - 1} of {dataset}/{backbone}: no rung file"
            )


def _stage_inputs(stage, dataset, backbone, plugin):
    """A stage selection's inputs: the finalists' metrics.json and every rung's progress."""
    paused, final = halving(stage, dataset, backbone, plugin)
    rungs = [
        _run_path(k, f"rung{r}.json") for r, keys in enumerate(paused) for k in keys
    ]
    return [_run_path(k, "metrics.json") for k in final] + rungs


def tune_metrics(wildcards):
    """What the tune selection reads: its finalists' metrics.json (every grid point, when the
    search is exhaustive) and the successive-halving rungs' progress files."""
    return _stage_inputs("tune", wildcards.dataset, wildcards.backbone, "none")


def align_metrics(wildcards):
    """What a plug-in's align selection reads (at the backbone's selected point)."""
    return _stage_inputs(
        "align", wildcards.dataset, wildcards.backbone, wildcards.plugin
    )


def rung_progress(stage):
    """Input function of a rung's selection: the progress files of the rung's runs."""

    def inputs(wildcards):
        plugin = wildcards.get("plugin", "none")
        rung = int(wildcards.rung)
        paused, _ = halving(
            stage, wildcards.dataset, wildcards.backbone, plugin, upto=rung
        )
        return [_run_path(k, f"rung{rung}.json") for k in paused[rung]]

    return inputs


def _key(wildcards):
    return RunKey(**{f: wildcards[f] for f in ("dataset", "backbone", "plugin", "variant")},
                  seed=int(wildcards.seed))  # fmt: skip


def rung_epochs(wildcards):
    """The epoch budget of a rung job (crossrec train --pause-at-epoch)."""
    stage = EXPERIMENT.stage_of(_key(wildcards))[0]
    return EXPERIMENT.rung_epochs(stage, int(wildcards.rung))


def previous_rung(wildcards):
    """A rung job continues the run's previous rung (its checkpoint)."""
    rung = int(wildcards.rung)
    return [] if rung == 0 else [f"{RUN_DIR.format(**wildcards)}/rung{rung - 1}.json"]


def last_rung(wildcards):
    """A halving finalist's training continues from its last rung's checkpoint (none for any
    other run)."""
    where = EXPERIMENT.stage_of(_key(wildcards))
    if where is None or EXPERIMENT.halving(where[0]) is None:
        return []
    paused, final = halving(*where)
    key = _key(wildcards)
    rungs = [r for r, keys in enumerate(paused) if key in keys]
    return [_run_path(key, f"rung{rungs[-1]}.json")] if key in final and rungs else []


def run_file(wildcards):
    """The run's definition file, results/runs/<run>/run.yaml, written by the `plan`
    checkpoint or, in a staged study, after the selection that determines the run (the train
    job waits for it; a run whose file did not change does not rerun)."""
    key = _key(wildcards)
    _after(EXPERIMENT.determined_by(key))
    path = Path(_run_path(key, RUN_FILE))
    if not path.is_file():
        raise WorkflowError(
            f"{path}: missing although results/plan.json is up to date (was the run folder "
            "removed?); `snakemake --forcerun plan` writes it again from the config"
        )
    try:  # what the train job would refuse, refused now (a dry run included)
        check_run_file(path, key.path())
    except CrossrecError as err:
        fail_now(err)
    return str(path)


def fail_now(err):
    """One line (`crossrec: error: ...`) and exit 2, from inside an input function: Snakemake
    would otherwise wrap the message in a multi-line InputFunctionException."""
    print(f"crossrec: error: {err}", file=sys.stderr, flush=True)
    os._exit(err.exit_code)


def plan_config():
    """The resolved config as one shell-quoted JSON argument for `crossrec plan` (key order
    kept: it is the order of the tables)."""
    return shlex.quote(json.dumps(config))


def train_code(wildcards):
    """Digest of the source behind this run's backbone and plug-in (crossrec.provenance): a
    `params:` value, so Snakemake reruns exactly the runs whose code changed."""
    from crossrec.align import PLUGINS
    from crossrec.models import BACKBONES
    from crossrec.provenance import run_code_digest

    return run_code_digest(
        BACKBONES[wildcards.backbone].__module__, PLUGINS[wildcards.plugin].__module__
    )


def run_name(wildcards):
    """The run's name, its folder below results/runs (RUN_NAME filled in): `crossrec train
    --expect` refuses a run file that defines another run."""
    return RUN_NAME.format(**wildcards)


def run_dir_of_rung(wildcards, output):
    """The run folder of a rung job's progress file."""
    return str(Path(output[0]).parent)


def run_dir(wildcards, output):
    """The run folder holding a run's outputs."""
    return str(Path(output.metrics).parent)


def _job_limits(wildcards):
    """(MB, minutes) of a training job from the measured cost tables (crossrec.costs), None
    where there is no measured row for the dataset's shape, backbone and plug-in."""
    from crossrec.costs import job_limits

    epochs = rung_epochs(wildcards) if "rung" in wildcards.keys() else TRAIN.epochs
    return job_limits(
        wildcards.dataset,
        wildcards.backbone,
        wildcards.plugin,
        "cuda" if _cuda() else "cpu",
        epochs,
    )


def train_mem_mb(wildcards, attempt):
    """Memory of a training job (MB), times the attempt (a job retried after running out of
    memory or time asks for more): `resources.train_mem_mb` when set, else from the measured
    cost table (peak x 1.5), else 4000."""
    mb = config.get("resources", {}).get("train_mem_mb") or _job_limits(wildcards)[0]
    return (mb or 4000) * attempt


def train_runtime(wildcards, attempt):
    """Wall-time limit of a training job (minutes), times the attempt (a job killed at its limit
    resumes from its checkpoint with twice the time): `resources.train_runtime` when set, else
    from the measured cost table (1.5 x the epochs the job may train: train.epochs, a rung job's
    budget), else 120."""
    minutes = (
        config.get("resources", {}).get("train_runtime") or _job_limits(wildcards)[1]
    )
    return (minutes or 120) * attempt


def _cuda():
    return TRAIN.device.startswith("cuda")


def train_resources():
    """Resources of one training job. On SLURM (profiles/slurm): the partition and, for a CUDA
    run only, the GPU request, both from the config (`resources.gpu_partition` /
    `cpu_partition`, `resources.gpu_gres`: `gpu:1`, or `shard:1` where the cluster shares
    GPUs between jobs) — declared by the rule, so `--default-resources slurm_account=...`
    on the command line (which replaces the profile's whole default-resources) takes nothing
    away. Locally a CUDA run also takes one `gpu_slot` (profiles/default has 1: one CUDA run at
    a time; GPUs × runs per GPU packs a multi-GPU box, and `crossrec train` spreads the runs
    over the visible GPUs)."""
    res = config.get("resources", {})
    out = {
        "mem_mb": train_mem_mb,
        "runtime": train_runtime,
        "checkpoint_minutes": checkpoint_minutes(),
        "slurm_partition": res.get("gpu_partition" if _cuda() else "cpu_partition")
        or ("gpu" if _cuda() else "cpu"),
    }
    if _cuda():
        out["gres"] = res.get("gpu_gres", "gpu:1")
        out["gpu_slot"] = 1
    return out


def prepare_resources():
    """Resources of a `prepare` job (declared here, not in a profile: see train_resources)."""
    return {
        "mem_mb": 32000,
        "runtime": 120,
        "slurm_partition": config.get("resources", {}).get("cpu_partition", "cpu"),
    }


def checkpoint_minutes():
    """Least wall time between two checkpoints of a training job (`resources.checkpoint_minutes`,
    default 10): a large model's checkpoint is hundreds of MB. A resource (a string), not a
    `params:` value, so changing it retrains nothing."""
    return str(config.get("resources", {}).get("checkpoint_minutes", 10))


def train_threads():
    """Torch threads per training job."""
    return config.get("resources", {}).get("train_threads", 1)


def folder_of(wildcards, output):
    """The folder of a rule's first output."""
    return str(Path(output[0]).parent)
