rule table:
    """Test Recall/NDCG/Precision @K of every run, as Markdown and CSV."""
    input:
        all_metrics(),
    output:
        md="results/tables/main.md",
        csv="results/tables/main.csv",
    log:
        "results/logs/table/main.log",
    conda:
        "../../envs/crossrec.yaml"
    params:
        ks=table_ks(),
        stem=table_stem,
    shell:
        "crossrec table {input} --k {params.ks} --out {params.stem} > {log} 2>&1"
