"""A staged study's DAG driver (crossrec.study.staged): which runs and files each stage needs,
waiting for the checkpoint that determines them (each selection and halving rung); the rules are
in stages.smk."""

import functools

from crossrec.study.at_point import selected_studies
from crossrec.study.files import selection_path


def one_line(func):
    """`func` (an input function, or a helper of one, that reads crossrec's files: selection,
    rung, confirmation and progress files) with its crossrec errors printed as one line and
    exit 2 (`fail_now`) instead of Snakemake's InputFunctionException and stack frames;
    Snakemake's own exceptions (a checkpoint not yet reached) pass through."""

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except CrossrecError as err:
            fail_now(err)

    return wrapped


def after(step):
    """Wait for the checkpoint that writes the run files of `step`
    (crossrec.study.Planner.determined_by): the study's `plan`, or a staged study's selection.
    """
    if step[0] == "plan":
        checkpoints.plan.get()
    elif step[0] == "confirm":
        confirmed(step[1], *step[2:4], step[4] if len(step) > 4 else "none")
    elif step[0] == "tune":
        checkpoints.stage_tune.get(dataset=step[1], backbone=step[2])
    else:
        checkpoints.stage_align.get(dataset=step[1], backbone=step[2], plugin=step[3])


@one_line
def chosen(dataset, backbone, plugin):
    """A staged study's variant of (dataset, backbone, plug-in) for the replicate stage, once
    its selections are made (the DAG grows after each)."""
    if not STUDY.is_pinned(dataset, backbone):
        after(("tune", dataset, backbone))
    if plugin != "none" and not STUDY.is_pinned(dataset, backbone, plugin):
        after(("align", dataset, backbone, plugin))
    return STUDY.chosen(dataset, backbone, plugin)


def _backbones():
    """(dataset, backbone) of every backbone a staged study tunes or pins (none for a flat
    study), in config order."""
    datasets = STUDY.datasets if STUDY.staged else []
    return [(d, b) for d in datasets for b in config["backbones"]]


@one_line
def study_runs(name):
    """File `name` of every run the tables read: every planned run of a flat study; the
    replicate runs of a staged one, its knock-out runs at the selected points and its ablation
    and sensitivity runs at the selected backbone points (known after its selections).
    """
    if not STUDY.staged:
        return [run_path(key, name) for key in STUDY.runs()]
    out = []
    for dataset, backbone in _backbones():
        for plugin in ["none", *STUDY.plugins_of(dataset, backbone)]:
            variant = chosen(dataset, backbone, plugin)
            keys = [RunKey(dataset, backbone, plugin, variant, s) for s in STUDY.seeds]
            keys += STUDY.knockout_runs(dataset, backbone, plugin, variant)
            out += [run_path(key, name) for key in dict.fromkeys(keys)]
        point = chosen(dataset, backbone, "none")
        for _, key, _ in selected_studies(STUDY, dataset, backbone, point):
            out.append(run_path(key, name))
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
    return "results/study.json" if STUDY.staged else "results/plan.json"


def tune_stages():
    """The tune stage of every (dataset, backbone) a staged study tunes (static paths, so a dry
    run before any selection shows every dataset's tune runs, not the first one's only).
    """
    return [
        str(selection_path(SELECTIONS, "tune", d, b, "none").with_suffix(".runs.json"))
        for d, b in _backbones()
        if not STUDY.is_pinned(d, b)
    ]


def stage_selections():
    """The selection file of every stage a staged study runs (none for a flat study)."""
    out = []
    for dataset, backbone in _backbones():
        if not STUDY.is_pinned(dataset, backbone):
            out.append(selection_path(SELECTIONS, "tune", dataset, backbone, "none"))
        for plugin in STUDY.plugins_of(dataset, backbone):
            if not STUDY.is_pinned(dataset, backbone, plugin):
                out.append(
                    selection_path(SELECTIONS, "align", dataset, backbone, plugin)
                )
    return out


def selection_files(wildcards):
    """Every selection file of a staged study (the `study` rule's input)."""
    study_runs("metrics.json")  # waits for every selection
    return [str(path) for path in stage_selections()]


def lost_selections():
    """A selection file deleted (or left a dangling link) after its stage planned its runs
    (`<stage>.runs.json` still there): the targets `all` and `runs` ask for it, so it is made
    again from the candidates' runs (no training) and what depends on it follows. Without
    this Snakemake would never rebuild it (a missing intermediate file whose consumers are
    up to date is left missing) and the DAG would read the stage as not yet reached."""
    return [
        str(path)
        for path in stage_selections()
        if path.with_suffix(".runs.json").is_file() and not path.is_file()
    ]


def _rung_selected(stage, dataset, backbone, plugin, rung):
    """Wait for a successive-halving rung's selection."""
    if stage == "tune":
        checkpoints.select_rung_tune.get(dataset=dataset, backbone=backbone, rung=rung)
    else:
        checkpoints.select_rung_align.get(
            dataset=dataset, backbone=backbone, plugin=plugin, rung=rung
        )


@one_line
def halving(stage, dataset, backbone, plugin, upto=None):
    """(runs paused at each rung, finalists) of a stage (crossrec.study.StagedStudy.rungs),
    waiting for each rung's selection in turn — or, with `upto`, only until rung `upto` is
    known."""
    if stage == "align" and plugin != "none":
        chosen(dataset, backbone, "none")
    while True:
        paused, final = STUDY.rungs(stage, dataset, backbone, plugin)
        if final is not None or (upto is not None and len(paused) > upto):
            return paused, final
        _rung_selected(stage, dataset, backbone, plugin, len(paused) - 1)
        if STUDY.rungs(stage, dataset, backbone, plugin) == (paused, final):
            raise WorkflowError(
                f"{stage} rung {len(paused) - 1} of {dataset}/{backbone}: no rung file"
            )


@one_line
def confirmed(stage, dataset, backbone, plugin):
    """Wait for a stage's confirmation (stages.<stage>.confirm); its runs."""
    if stage == "tune":
        checkpoints.confirm_tune.get(dataset=dataset, backbone=backbone)
    else:
        checkpoints.confirm_align.get(dataset=dataset, backbone=backbone, plugin=plugin)
    return STUDY.confirm_runs(stage, dataset, backbone, plugin)


def stage_inputs(stage, confirm=True):
    """Input function of a stage's selection: its finalists' metrics.json (every grid point,
    when the search is exhaustive), every rung's progress files and, with a confirmation
    (`confirm` True and stages.<stage>.confirm set), its runs' metrics.json."""

    def inputs(wildcards):
        plugin = wildcards.get("plugin", "none")
        where = (stage, wildcards.dataset, wildcards.backbone, plugin)
        paused, final = halving(*where)
        rungs = [
            run_path(k, f"rung{r}.json") for r, keys in enumerate(paused) for k in keys
        ]
        extra = []
        if confirm and STUDY.confirmation[stage] is not None:
            extra = [run_path(k, "metrics.json") for k in confirmed(*where)]
        return [run_path(k, "metrics.json") for k in final] + rungs + extra

    return inputs


def rung_progress(stage):
    """Input function of a rung's selection: the progress files of the rung's runs."""

    def inputs(wildcards):
        plugin = wildcards.get("plugin", "none")
        rung = int(wildcards.rung)
        paused, _ = halving(
            stage, wildcards.dataset, wildcards.backbone, plugin, upto=rung
        )
        return [run_path(k, f"rung{rung}.json") for k in paused[rung]]

    return inputs


@one_line
def rung_epochs(wildcards):
    """The epoch budget of a rung job (crossrec train --pause-at-epoch)."""
    stage = STUDY.stage_of(run_key(wildcards))[0]
    return STUDY.rung_epochs(stage, int(wildcards.rung))


def previous_rung(wildcards):
    """A rung job continues the run's previous rung (its checkpoint)."""
    rung = int(wildcards.rung)
    return [] if rung == 0 else [f"{RUN_DIR.format(**wildcards)}/rung{rung - 1}.json"]


@one_line
def last_rung(wildcards):
    """A halving finalist's training continues from its last rung's checkpoint (none for any
    other run)."""
    where = STUDY.stage_of(run_key(wildcards)) if STUDY.staged else None
    if where is None or STUDY.halving[where[0]] is None:
        return []
    paused, final = halving(*where)
    key = run_key(wildcards)
    rungs = [r for r, keys in enumerate(paused) if key in keys]
    return [run_path(key, f"rung{rungs[-1]}.json")] if key in final and rungs else []


def where_flags(stage):
    """`--stage S --dataset D --backbone B [--plugin P]` of a stage job (a params function)."""

    def flags(wildcards):
        plugin = f" --plugin {wildcards.plugin}" if stage == "align" else ""
        where = f"--dataset {wildcards.dataset} --backbone {wildcards.backbone}"
        return f"--stage {stage} {where}{plugin}"

    return flags


# The paths and commands of the stage rules (stages.smk)
TUNE = f"{SELECTIONS}/{{dataset}}/{{backbone}}/tune"
ALIGN = f"{SELECTIONS}/{{dataset}}/{{backbone}}/{{plugin}}/align"
LOG_TUNE = "results/logs/select/{dataset}/{backbone}/tune"
LOG_ALIGN = "results/logs/select/{dataset}/{backbone}/{plugin}/align"
SELECT_CMD = (
    "crossrec select --config-json {params.config} {params.where} --selections "
    "results/selections --runs results/runs --out {output} > {log} 2>&1"
)
STAGE_CMD = (
    "crossrec stage --config-json {params.config} {params.where} --selections "
    "results/selections --runs results/runs --out {output} > {log} 2>&1"
)
CONFIRM_CMD = (
    "crossrec confirm --config-json {params.config} {params.where} --selections "
    "results/selections --runs results/runs --out {output} > {log} 2>&1"
)
RUNG_CMD = (
    "crossrec rung --config-json {params.config} {params.where} --rung {wildcards.rung} "
    "--selections results/selections --runs results/runs --out {output} > {log} 2>&1"
)


def selection_report(path, stage):
    """A stage's selection file as a report item (category Tuning)."""
    plugin = "{plugin}" if stage == "align" else "none"
    return report(
        path,
        caption="../report/selection_file.rst",
        category="Tuning",
        subcategory="Selection files",
        labels={
            "stage": stage,
            "dataset": "{dataset}",
            "backbone": "{backbone}",
            "plug-in": plugin,
        },
    )
