"""A staged study's rules: each stage's selection and the run files it determines (checkpoints:
the DAG grows after each), successive halving's rung cuts, and study.json. The DAG driver and
the commands are in study.smk; select_align reuses select_tune (`use rule ... with:`), the
checkpoints are written out (a checkpoint made by `use rule` is not registered as one).
"""


rule select_tune:
    """A staged study's tune stage: the backbone's best grid point (validation), as a
    selection file (crossrec.study.files); edit its `variant` and `point` to take another candidate.
    """
    input:
        stage_inputs("tune"),
    output:
        selection_report(f"{TUNE}.yaml", "tune"),
    log:
        f"{LOG_TUNE}.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
        where=where_flags("tune"),
    shell:
        SELECT_CMD


use rule select_tune as select_align with:
    input:
        stage_inputs("align"),
    output:
        selection_report(f"{ALIGN}.yaml", "align"),
    log:
        f"{LOG_ALIGN}.log",
    params:
        config=plan_config(),
        where=where_flags("align"),


checkpoint stage_tune:
    """The run files a tune selection determines: the plug-ins' align runs at the selected
    point and the backbone's replicate runs."""
    input:
        f"{TUNE}.yaml",
    output:
        f"{TUNE}.runs.json",
    log:
        f"{LOG_TUNE}.runs.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
        where=where_flags("tune"),
    shell:
        STAGE_CMD


checkpoint stage_align:
    """The run files an align selection determines: the plug-in's replicate runs."""
    input:
        f"{ALIGN}.yaml",
    output:
        f"{ALIGN}.runs.json",
    log:
        f"{LOG_ALIGN}.runs.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
        where=where_flags("align"),
    shell:
        STAGE_CMD


checkpoint confirm_tune:
    """A confirmed tune stage: the best finalists that go on to more seeds, and their runs."""
    input:
        stage_inputs("tune", confirm=False),
    output:
        f"{TUNE}.confirm.yaml",
    log:
        f"{LOG_TUNE}.confirm.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
        where=where_flags("tune"),
    shell:
        CONFIRM_CMD


checkpoint confirm_align:
    """A confirmed align stage: the best finalists that go on to more seeds, and their runs."""
    input:
        stage_inputs("align", confirm=False),
    output:
        f"{ALIGN}.confirm.yaml",
    log:
        f"{LOG_ALIGN}.confirm.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
        where=where_flags("align"),
    shell:
        CONFIRM_CMD


checkpoint select_rung_tune:
    """Which points of a successive-halving rung go on."""
    input:
        rung_progress("tune"),
    output:
        f"{TUNE}.rung{{rung}}.yaml",
    log:
        f"{LOG_TUNE}.rung{{rung}}.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
        where=where_flags("tune"),
    shell:
        RUNG_CMD


checkpoint select_rung_align:
    """Which points of a successive-halving rung go on."""
    input:
        rung_progress("align"),
    output:
        f"{ALIGN}.rung{{rung}}.yaml",
    log:
        f"{LOG_ALIGN}.rung{{rung}}.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
        where=where_flags("align"),
    shell:
        RUNG_CMD


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
        "crossrec study --config-json {params.config} --selections results/selections"
        " --out {output} > {log} 2>&1"
