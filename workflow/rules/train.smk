checkpoint plan:
    """The study's runs: results/plan.json (every run, its study and parameters) and each run's
    one definition file, results/runs/<run>/run.yaml, every default filled in (crossrec.run).
    One job for the whole study; a file that already holds its run is left untouched, so only
    the runs whose definition changed retrain. Edit a run.yaml to change that one run.
    """
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
        "crossrec plan --config-json {params.config} --out {output} --runs {params.runs} > {log} 2>&1"


rule select_tune:
    """A staged study's tune stage: the backbone's best grid point (validation), as a
    selection file (crossrec.stages); edit its `variant` to take another candidate."""
    input:
        tune_metrics,
    output:
        f"{SELECTIONS}/{{dataset}}/{{backbone}}/tune.yaml",
    log:
        "results/logs/select/{dataset}/{backbone}/tune.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
    shell:
        "crossrec select --config-json {params.config} --stage tune --dataset {wildcards.dataset}"
        " --backbone {wildcards.backbone}"
        " --selections results/selections --runs results/runs --out {output} > {log} 2>&1"


checkpoint stage_tune:
    """The run files a tune selection determines: the plug-ins' align runs at the
    selected point and the backbone's replicate runs."""
    input:
        f"{SELECTIONS}/{{dataset}}/{{backbone}}/tune.yaml",
    output:
        f"{SELECTIONS}/{{dataset}}/{{backbone}}/tune.runs.json",
    log:
        "results/logs/select/{dataset}/{backbone}/tune.runs.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
    shell:
        "crossrec plan --config-json {params.config} --stage tune --dataset {wildcards.dataset}"
        " --backbone {wildcards.backbone}"
        " --selections results/selections --runs results/runs --out {output} > {log} 2>&1"


rule select_align:
    """A staged study's align stage: the plug-in's best grid point at the backbone's
    selected point (validation), as a selection file."""
    input:
        align_metrics,
    output:
        f"{SELECTIONS}/{{dataset}}/{{backbone}}/{{plugin}}/align.yaml",
    log:
        "results/logs/select/{dataset}/{backbone}/{plugin}/align.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
    shell:
        "crossrec select --config-json {params.config} --stage align --dataset {wildcards.dataset}"
        " --backbone {wildcards.backbone} --plugin {wildcards.plugin}"
        " --selections results/selections --runs results/runs --out {output} > {log} 2>&1"


checkpoint stage_align:
    """The run files an align selection determines: the plug-in's replicate runs."""
    input:
        f"{SELECTIONS}/{{dataset}}/{{backbone}}/{{plugin}}/align.yaml",
    output:
        f"{SELECTIONS}/{{dataset}}/{{backbone}}/{{plugin}}/align.runs.json",
    log:
        "results/logs/select/{dataset}/{backbone}/{plugin}/align.runs.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
    shell:
        "crossrec plan --config-json {params.config} --stage align --dataset {wildcards.dataset}"
        " --backbone {wildcards.backbone} --plugin {wildcards.plugin}"
        " --selections results/selections --runs results/runs --out {output} > {log} 2>&1"


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
        f"results/logs/train/{RUN_NAME}.rung{{rung}}.log",
    conda:
        "../../envs/crossrec.yaml"
    threads: train_threads()
    resources:
        **train_resources(),
    params:
        out=run_dir_of_rung,
        name=run_name,
        code=train_code,
        epochs=rung_epochs,
    shell:
        "crossrec train --data {input.data} --run {input.run} --expect {params.name}"
        " --threads {threads} --checkpoint-minutes {resources.checkpoint_minutes}"
        " --pause-at-epoch {params.epochs} --progress {output} --resume --stop-with $PPID"
        " --out {params.out}"
        " > {log} 2>&1"


checkpoint select_rung_tune:
    """Which points of a tune rung go on (successive halving)."""
    input:
        rung_progress("tune"),
    output:
        f"{SELECTIONS}/{{dataset}}/{{backbone}}/tune.rung{{rung}}.yaml",
    log:
        "results/logs/select/{dataset}/{backbone}/tune.rung{rung}.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
    shell:
        "crossrec select --config-json {params.config} --stage tune --rung {wildcards.rung}"
        " --dataset {wildcards.dataset} --backbone {wildcards.backbone}"
        " --selections results/selections --runs results/runs --out {output} > {log} 2>&1"


checkpoint select_rung_align:
    """Which points of an align rung go on (successive halving)."""
    input:
        rung_progress("align"),
    output:
        f"{SELECTIONS}/{{dataset}}/{{backbone}}/{{plugin}}/align.rung{{rung}}.yaml",
    log:
        "results/logs/select/{dataset}/{backbone}/{plugin}/align.rung{rung}.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
    shell:
        "crossrec select --config-json {params.config} --stage align --rung {wildcards.rung}"
        " --dataset {wildcards.dataset} --backbone {wildcards.backbone} --plugin"
        " {wildcards.plugin} --selections results/selections --runs results/runs --out {output}"
        " > {log} 2>&1"


rule study:
    """A staged study's runs as the tables read them (its replicate runs), written once every
    selection is made."""
    input:
        plan="results/plan.json",
        tuned=tune_stages(),
        selections=selection_files,
    output:
        "results/study.json",
    log:
        "results/logs/study.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
    shell:
        "crossrec plan --config-json {params.config} --selections results/selections"
        " --out {output} > {log} 2>&1"


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
        f"results/logs/train/{RUN_NAME}.log",
    benchmark:
        f"results/benchmarks/train/{RUN_NAME}.tsv"
    conda:
        "../../envs/crossrec.yaml"
    threads: train_threads()
    resources:
        **train_resources(),
    params:
        out=run_dir,
        name=run_name,
        code=train_code,
    shell:
        "crossrec train --data {input.data} --run {input.run} --expect {params.name}"
        " --threads {threads} --checkpoint-minutes {resources.checkpoint_minutes} --resume"
        " --stop-with $PPID --out {params.out} > {log} 2>&1"
