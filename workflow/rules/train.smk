rule train:
    """One run: dataset x backbone x plug-in x variant x seed."""
    input:
        data="results/data/{dataset}",
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
        run=train_run,
        out=run_dir,
        code=train_code,
    shell:
        "crossrec train --data {input.data} --run-json {params.run}"
        " --threads {threads} --resume --out {params.out} > {log} 2>&1"
