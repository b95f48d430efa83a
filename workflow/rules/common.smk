"""Targets, paths and the CLI strings of the rules. Input functions only; no lambdas in rules.

The study (`STUDY`, built and checked in the Snakefile by crossrec.workflow_config) is the
planner `crossrec plan` runs (crossrec.study), so the DAG and the tables agree on what a run is.
"""

import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

from crossrec.errors import ConfigError, CrossrecError
from crossrec.report import FIGURE_FORMATS, REPORT_FORMATS, REPORT_STUDY, table_files
from crossrec.run import RUN_FILE, RUN_PATH, RunKey, train_settings
from crossrec.study.runfiles import check_run_file
from snakemake.exceptions import WorkflowError


wildcard_constraints:
    rung=r"\d+",
    dataset=r"[A-Za-z][A-Za-z0-9_\-]{0,63}",
    backbone=r"[A-Za-z0-9_]+",
    plugin=r"[A-Za-z0-9_]+",
    variant=r"[A-Za-z0-9_.=+\-]+",
    seed=r"\d+",


# results/runs/{dataset}/{backbone}/{plugin}/{variant}/seed{seed}, as RunKey.path() fills it
RUN_DIR = f"results/runs/{RUN_PATH}"
SELECTIONS = SELECTIONS_DIR  # a staged study's selection files (crossrec.study.files)
TRAIN = train_settings(config)  # the trainer settings, defaults filled in


# the configured datasets' names, as the one wildcard value `download` and `prepare` take (a
# knock-out dataset, <dataset>-only-<modalities>, comes from `knockout_data`)
CONFIGURED_DATASETS = "|".join(re.escape(name) for name in config["datasets"])


def knockout_args(wildcards):
    """`--keep ... --modalities ...` of a knock-out dataset (crossrec.study.knockout)."""
    name = f"{wildcards.dataset}-only-{wildcards.kept}"
    found = STUDY.knockout.kept(name) if STUDY.knockout else None
    if found is None:
        fail_now(
            ConfigError(f"results/data/{name}: no knock-out subset of this config")
        )
    base, kept = found
    declared = STUDY.knockout.modalities[base]
    return f"--keep {' '.join(kept)} --modalities {' '.join(declared)}"


def all_datasets():
    """The prepared folder of every configured dataset."""
    return expand("results/data/{dataset}", dataset=STUDY.datasets)


def configured_datasets():
    """The prepared folder of every dataset the config names (not a knock-out's)."""
    return expand("results/data/{dataset}", dataset=list(config["datasets"]))


def run_path(key, name):
    """File `name` of a run's folder."""
    return f"results/runs/{key.path()}/{name}"


def all_metrics():
    """metrics.json of every planned run (all studies)."""
    return [run_path(key, "metrics.json") for key in STUDY.runs()]


def all_tables():
    """Every table file the study has (results/tables/<name>.<format>; crossrec.study's
    Planner.outputs: no placeholder for a study the config does not run)."""
    return table_files(STUDY.outputs()["tables"])


def all_figures():
    """Every figure file the study has (results/figures/<name>.<format>)."""
    return expand(
        "results/figures/{name}.{ext}",
        name=STUDY.outputs()["figures"],
        ext=FIGURE_FORMATS,
    )


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
    needs = STUDY.data_needs()
    ks = " ".join(str(k) for k in sorted(needs.neighbors_k))
    knn = " ".join(str(k) for k in sorted(needs.item_knn_k))
    graph = " --user-graph" if needs.user_graph else ""
    return f"--neighbors-k {ks} --knn-k {knn}{graph}"


def plan_config():
    """The resolved config as one shell-quoted JSON argument for the study's verbs (key order
    kept: it is the order of the tables)."""
    return shlex.quote(json.dumps(config))


def run_key(wildcards):
    """The run a train job's wildcards name."""
    fields = ("dataset", "backbone", "plugin", "variant")
    return RunKey(**{f: wildcards[f] for f in fields}, seed=int(wildcards.seed))


def run_file(wildcards):
    """The run's definition file, results/runs/<run>/run.yaml, written by the `plan`
    checkpoint or, in a staged study, after the selection that determines the run (the train
    job waits for it; a run whose file did not change does not rerun)."""
    key = run_key(wildcards)
    after(STUDY.determined_by(key))
    path = Path(run_path(key, RUN_FILE))
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
    """One line (`crossrec: error: ...`) and exit 2, from inside an input function.

    Not a WorkflowError: Snakemake wraps an exception raised in an input function, its own
    included, in a multi-line InputFunctionException with the rule, wildcards and traceback,
    and has no hook to print it as one line. `os._exit` ends the process where it stands, in
    whichever part of the DAG build called the input function, before any job has started.
    """
    print(f"crossrec: error: {err}", file=sys.stderr, flush=True)
    if getattr(
        workflow.persistence, "_lockfile", None
    ):  # the lock this run took, if any:
        workflow.persistence.unlock()  # os._exit skips Snakemake's clean-up (never another's)
    os._exit(err.exit_code)


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
    """The run's name, its folder below results/runs: `crossrec train --expect` refuses a run
    file that defines another run."""
    return RUN_PATH.format(**wildcards)


def folder_of(wildcards, output):
    """The folder of a rule's first output (a run folder, the tables' or figures' folder)."""
    return str(Path(output[0]).parent)
