"""The study's plan and its training jobs (a staged study's selections: stages.smk)."""


checkpoint plan:
    """The study's runs: results/plan.json (every run, its study and parameters) and each run's
    one definition file, results/runs/<run>/run.yaml, every default filled in (crossrec.run).
    One job for the whole study; a file that already holds its run is left untouched, so only
    the runs whose definition changed retrain. Edit a run.yaml to change that one run.
    It waits for the prepared datasets, so `train.topk` is checked against their item counts
    before any training job.
    """
    input:
        data=configured_datasets(),
    output:
        "results/plan.json",
    log:
        "results/logs/plan.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
        runs="results/runs",
    shell:
        "crossrec plan --config-json {params.config} --data results/data --out {output}"
        " --runs {params.runs} > {log} 2>&1"


rule train_rung:
    """A successive-halving rung of one run: train to the rung's epoch budget (or to early
    stopping), leave the checkpoint, record the progress."""
    input:
        data="results/data/{dataset}",
        run=run_file,
        previous=previous_rung,
    output:
        f"{RUN_DIR}/rung{{rung}}.json",
    log:
        f"results/logs/train/{RUN_PATH}.rung{{rung}}.log",
    conda:
        "../../envs/crossrec.yaml"
    threads: train_threads()
    resources:
        **train_resources(),
    params:
        out=folder_of,
        name=run_name,
        code=train_code,
        epochs=rung_epochs,
    shell:
        "crossrec train --data {input.data} --run {input.run} --expect {params.name}"
        " --threads {threads} --checkpoint-minutes {resources.checkpoint_minutes}"
        " --pause-at-epoch {params.epochs} --progress {output} --resume --stop-with $PPID"
        " {resources.track}"
        " --out {params.out}"
        " > {log} 2>&1"


rule train:
    """One run: dataset x backbone x plug-in x variant x seed, as its run.yaml says."""
    input:
        data="results/data/{dataset}",
        run=run_file,
        rung=ancient(last_rung),
    output:
        metrics=f"{RUN_DIR}/metrics.json",
        history=f"{RUN_DIR}/history.csv",
        per_user=f"{RUN_DIR}/test_per_user.csv",
    log:
        f"results/logs/train/{RUN_PATH}.log",
    benchmark:
        f"results/benchmarks/train/{RUN_PATH}.tsv"
    conda:
        "../../envs/crossrec.yaml"
    threads: train_threads()
    resources:
        **train_resources(),
    params:
        out=folder_of,
        name=run_name,
        code=train_code,
    shell:
        "crossrec train --data {input.data} --run {input.run} --expect {params.name}"
        " --threads {threads} --checkpoint-minutes {resources.checkpoint_minutes} --resume"
        " --stop-with $PPID {resources.track} --out {params.out} > {log} 2>&1"
