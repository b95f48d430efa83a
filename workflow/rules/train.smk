rule train:
    """One run: dataset x backbone x plug-in x variant x seed."""
    input:
        data="results/data/{dataset}",
    output:
        metrics=RUN_DIR + "/metrics.json",
        history=RUN_DIR + "/history.csv",
        config=RUN_DIR + "/config.yaml",
    params:
        args=train_args,
        out=run_dir,
    log:
        "results/logs/train/" + RUN_NAME + ".log",
    benchmark:
        "results/benchmarks/train/" + RUN_NAME + ".tsv"
    threads: train_threads()
    resources:
        **train_resources(),
    shell:
        "crossrec train --data {input.data} --dataset {wildcards.dataset}"
        " --backbone {wildcards.backbone} --plugin {wildcards.plugin}"
        " --variant {wildcards.variant} --seed {wildcards.seed} {params.args}"
        " --threads {threads} --resume --out {params.out} > {log} 2>&1"
