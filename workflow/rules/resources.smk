"""Job resources: memory, runtime, partition, GPU request and slot, threads, checkpoint spacing.

Declared by the rules (not in a profile), so `--default-resources slurm_account=...` on the
command line, which replaces the profile's whole default-resources, takes nothing away.
"""


def _cuda():
    return TRAIN.device.startswith("cuda")


def _job_limits(wildcards):
    """(MB, minutes) of a training job from the cost tables (crossrec.costs): the study's own
    finished runs' measurements, else the shipped row, else one predicted from the nearest
    measured dataset size; None where nothing is known."""
    from crossrec.costs import job_limits

    epochs = rung_epochs(wildcards) if "rung" in wildcards.keys() else TRAIN.epochs
    dataset = STUDY.base_dataset(wildcards.dataset)  # a knock-out's: its full dataset's
    device = "cuda" if _cuda() else "cpu"
    # the study's own finished runs (results/runs) win over the shipped rows
    return job_limits(
        dataset, wildcards.backbone, wildcards.plugin, device, epochs, "results/runs"
    )


def train_mem_mb(wildcards, attempt):
    """Memory of a training job (MB), times the attempt (a job retried after running out of
    memory or time asks for more): `resources.train_mem_mb` when set, else from the cost
    table (peak x 1.5; learned from the study's runs, shipped or predicted), else 4000.
    """
    mb = config.get("resources", {}).get("train_mem_mb") or _job_limits(wildcards)[0]
    return (mb or 4000) * attempt


def train_runtime(wildcards, attempt):
    """Wall-time limit of a training job (minutes), times the attempt (a job killed at its limit
    resumes from its checkpoint with twice the time): `resources.train_runtime` when set, else
    from the cost table (1.5 x start-up + the epochs the job may train: train.epochs, a rung
    job's budget; learned from the study's runs, shipped or predicted), else 120."""
    minutes = (
        config.get("resources", {}).get("train_runtime") or _job_limits(wildcards)[1]
    )
    return (minutes or 120) * attempt


def train_resources():
    """Resources of one training job. On SLURM (profiles/slurm): the partition and, for a CUDA
    run only, the GPU request, both from the config (`resources.gpu_partition` /
    `cpu_partition`, `resources.gpu_gres`: `gpu:1`, or `shard:1` where the cluster shares
    GPUs between jobs). Locally a CUDA run also takes one `gpu_slot` (profiles/default has 1:
    one CUDA run at a time; GPUs × runs per GPU packs a multi-GPU box, and `crossrec train`
    spreads the runs over the visible GPUs)."""
    res = config.get("resources", {})
    out = {
        "mem_mb": train_mem_mb,
        "runtime": train_runtime,
        "checkpoint_minutes": checkpoint_minutes(),
        "track": track_args(),
        "slurm_partition": res.get("gpu_partition" if _cuda() else "cpu_partition")
        or ("gpu" if _cuda() else "cpu"),
    }
    if _cuda():
        out["gres"] = res.get("gpu_gres", "gpu:1")
        out["gpu_slot"] = 1
    return out


def prepare_resources():
    """Resources of a `prepare` job."""
    return {
        "mem_mb": 32000,
        "runtime": 120,
        "slurm_partition": config.get("resources", {}).get("cpu_partition", "cpu"),
    }


def track_args():
    """`--track BACKEND ... --track-dir DIR` of the config's `tracking:` (crossrec.tracking), or
    nothing. A resource (a string), not a `params:` value: tracking never changes a result, so
    turning it on or off retrains nothing."""
    spec = config.get("tracking")
    if not spec:
        return ""
    backends = (
        spec["backend"] if isinstance(spec["backend"], list) else [spec["backend"]]
    )
    where = shlex.quote(spec.get("dir", "results/tracking"))
    return " ".join(f"--track {b}" for b in backends) + f" --track-dir {where}"


def checkpoint_minutes():
    """Least wall time between two checkpoints of a training job (`resources.checkpoint_minutes`,
    default 10): a large model's checkpoint is hundreds of MB. A resource (a string), not a
    `params:` value, so changing it retrains nothing."""
    return str(config.get("resources", {}).get("checkpoint_minutes", 10))


def train_threads():
    """Torch threads per training job."""
    return config.get("resources", {}).get("train_threads", 1)
