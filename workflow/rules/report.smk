rule tables:
    """Selection on validation, seed statistics, significance, and the papers' tables."""
    input:
        plan=study_file(),
        metrics=study_metrics,
        per_user=study_per_user,
        data=all_datasets(),
    output:
        [reported(path, "table") for path in all_tables()],
    log:
        "results/logs/tables.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        out=folder_of,
    shell:
        "crossrec tables --plan {input.plan} --runs results/runs --selections results/selections"
        " --data results/data --out {params.out} > {log} 2>&1"


rule figures:
    """Validation curves, ΔImprov. bars, sensitivity panels, modality-score trajectories."""
    input:
        plan=study_file(),
        metrics=study_metrics,
        history=study_history,
    output:
        [reported(path, "figure") for path in all_figures()],
    log:
        "results/logs/figures.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        out=folder_of,
    shell:
        "crossrec figures --plan {input.plan} --runs results/runs --selections results/selections"
        " --out {params.out} > {log} 2>&1"


rule config:
    """The config the study ran with, as crossrec checked it (for the report)."""
    output:
        report(
            "results/config.yaml",
            caption="../report/config.rst",
            category="Study",
            labels={"file": "config"},
        ),
    log:
        "results/logs/config.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        config=plan_config(),
    shell:
        "crossrec config --config-json {params.config} --out {output} > {log} 2>&1"
