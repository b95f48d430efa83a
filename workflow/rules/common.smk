"""Config -> targets and rule parameters. Input functions only; no lambdas in rules."""

import shlex
from pathlib import Path


wildcard_constraints:
    dataset=r"[A-Za-z0-9_\-]+",
    backbone=r"[A-Za-z0-9_]+",
    plugin=r"[A-Za-z0-9_]+",
    variant=r"[A-Za-z0-9_\-]+",
    seed=r"\d+",


RUN_DIR = "results/runs/{dataset}/{backbone}/{plugin}/{variant}/seed{seed}"
RUN_NAME = "{dataset}/{backbone}/{plugin}/{variant}/seed{seed}"
DEFAULT_VARIANT = "default"


def all_metrics():
    """metrics.json of every run of the experiment matrix (datasets x backbones x plugins x seeds)."""
    return expand(
        f"{RUN_DIR}/metrics.json",
        dataset=list(config["datasets"]),
        backbone=list(config["backbones"]),
        plugin=list(config["plugins"]),
        variant=[DEFAULT_VARIANT],
        seed=config["seeds"],
    )


def _assignments(flag, mapping):
    return " ".join(
        f"{flag} {shlex.quote(f'{key}={value}')}"
        for key, value in (mapping or {}).items()
    )


def download_args(wildcards):
    """`--source ... [--path ...]` for the dataset's configured source."""
    spec = config["datasets"][wildcards.dataset]
    args = f"--source {spec['source']}"
    if spec["source"] == "folder":
        args += f" --path {shlex.quote(str(spec['path']))}"
    return args


def prepare_args(wildcards):
    """`--source ... --split-seed ... --neighbors-k ... --knn-k ...` for the prepare step."""
    spec = config["datasets"][wildcards.dataset]
    ks = " ".join(str(k) for k in config.get("neighbors_k", [3]))
    knn = " ".join(str(k) for k in config.get("item_knn_k", [10]))
    return (
        f"--source {spec['source']} --split-seed {spec.get('split_seed', 999)}"
        f" --neighbors-k {ks} --knn-k {knn}"
    )


def train_args(wildcards):
    """Backbone, plug-in and trainer settings from the config, as CLI flags."""
    return " ".join(
        part
        for part in (
            _assignments("--param", config["backbones"][wildcards.backbone]),
            _assignments("--plugin-param", config["plugins"][wildcards.plugin]),
            _assignments("--train", config.get("train", {})),
        )
        if part
    )


def run_dir(wildcards, output):
    """The run folder holding a run's outputs."""
    return str(Path(output.metrics).parent)


def train_resources():
    """Resources of one training job; a CUDA run also takes one unit of the `gpu` counter."""
    res = config.get("resources", {})
    out = {
        "mem_mb": res.get("train_mem_mb", 4000),
        "runtime": res.get("train_runtime", 120),
    }
    if config.get("train", {}).get("device", "auto") == "cuda":
        out["gpu"] = 1
    return out


def train_threads():
    """Torch threads per training job."""
    return config.get("resources", {}).get("train_threads", 1)


def table_stem(wildcards, output):
    """The common stem of the table's .md and .csv outputs."""
    return str(Path(output.md).with_suffix(""))


def table_ks():
    """The K values of the summary table."""
    return " ".join(str(k) for k in config.get("tables", {}).get("k", [5, 10, 20]))
