rule define:
    """One run's definition file: identity, the variant's parameters, the trainer settings
    (crossrec.runfile). Rewritten when the config changes what the run is; edit it to change
    one run."""
    output:
        f"{RUN_DIR}/run.yaml",
    log:
        f"results/logs/define/{RUN_NAME}.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        run=run_json,
    shell:
        "crossrec define --run-json {params.run} --out {output} > {log} 2>&1"


rule train:
    """One run: dataset x backbone x plug-in x variant x seed, as its run.yaml says."""
    input:
        data="results/data/{dataset}",
        run=f"{RUN_DIR}/run.yaml",
    output:
        metrics=f"{RUN_DIR}/metrics.json",
        history=f"{RUN_DIR}/history.csv",
        config=f"{RUN_DIR}/config.yaml",
        per_user=f"{RUN_DIR}/test_per_user.csv",
    log:
        f"results/logs/train/{RUN_NAME}.log",
    benchmark:
        f"results/benchmarks/train/{RUN_NAME}.tsv"
    group:
        train_group
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
        " --threads {threads} --resume --out {params.out} > {log} 2>&1"
