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


def train_mem_mb(wildcards, threads, attempt):
    """Memory of a training job (MB), times the attempt (a job retried after running out of
    memory or time asks for more): `resources.train_mem_mb` when set, else from the cost
    table (peak x 1.5; learned from the study's runs, shipped or predicted), else 4000. On
    SLURM the whole request is checked against the partition's nodes first (`fits_slurm`).
    """
    mb = config.get("resources", {}).get("train_mem_mb") or _job_limits(wildcards)[0]
    mb = (mb or 4000) * attempt
    fits_slurm(
        "train",
        _train_partition(),
        threads,
        mb,
        train_runtime(wildcards, attempt),
        _gres(),
        TRAIN_KEYS,
    )
    return mb


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
    out = {
        "mem_mb": train_mem_mb,
        "runtime": train_runtime,
        "checkpoint_minutes": checkpoint_minutes(),
        "track": track_args(),
        "slurm_partition": _train_partition(),
        "slurm_extra": early_signal,
    }
    if _cuda():
        out["gres"] = _gres()
        out["gpu_slot"] = 1
    return out


def _train_partition():
    res = config.get("resources", {})
    return res.get("gpu_partition" if _cuda() else "cpu_partition") or (
        "gpu" if _cuda() else "cpu"
    )


def _gres():
    """A CUDA run's GPU request (`resources.gpu_gres`, default gpu:1); None for a CPU run."""
    return config.get("resources", {}).get("gpu_gres", "gpu:1") if _cuda() else None


def early_signal(wildcards, attempt):
    """`--signal=TERM@S`: SLURM sends the training job's steps SIGTERM S seconds before its
    time limit (a quarter of the limit, at most 10 minutes), so the epoch in progress ends and
    the checkpoint is written before SLURM kills the job — at the limit itself only KillWait
    (30 s by default) would be left. The retry (twice the time) resumes from it."""
    lead = min(600, train_runtime(wildcards, attempt) * 60 // 4)
    return f"'--signal=TERM@{max(lead, 30)}'"


TRAIN_KEYS = {
    "partition": "resources.gpu_partition" if _cuda() else "resources.cpu_partition",
    "cpus": "resources.train_threads",
    "mem": "resources.train_mem_mb",
    "time": "resources.train_runtime",
    "gres": "resources.gpu_gres",
}
PREPARE_KEYS = {
    "partition": "resources.cpu_partition",
    "cpus": "resources.prepare_threads",
    "mem": "resources.prepare_mem_mb",
    "time": "resources.prepare_runtime",
    "gres": "resources.gpu_gres",
}


def on_slurm():
    """Whether this run submits its jobs with the SLURM executor (not a dry run, not local)."""
    plugin = getattr(workflow, "executor_plugin", None)
    return getattr(plugin, "name", None) == "slurm"


def fits_slurm(rule, partition, cpus, mem_mb, minutes, gres, keys):
    """On SLURM, a request no node of its partition can run ends the workflow in one line
    naming the rule and the config key (crossrec.cluster.check_request) before any job is
    submitted, instead of pending for ever; elsewhere nothing."""
    if not on_slurm():
        return
    from crossrec.cluster import check_request

    try:
        check_request(rule, partition, cpus, mem_mb, minutes, gres, keys)
    except CrossrecError as err:
        fail_now(err)


def _prepare_limits(wildcards):
    """(MB, minutes) of preparing a dataset: `resources.prepare_mem_mb` / `prepare_runtime`
    when set, else sized to the dataset from measurements (crossrec.costs.prepare)."""
    from crossrec.costs.prepare import prepare_limits

    res = config.get("resources", {})
    mb, minutes = prepare_limits(
        wildcards.dataset, config["datasets"][wildcards.dataset]
    )
    return res.get("prepare_mem_mb") or mb, res.get("prepare_runtime") or minutes


def prepare_mem_mb(wildcards, threads, attempt):
    """Memory of a prepare job (MB), times the attempt; checked on SLURM (`fits_slurm`)."""
    mb, minutes = _prepare_limits(wildcards)
    mb, minutes = mb * attempt, minutes * attempt
    partition = config.get("resources", {}).get("cpu_partition", "cpu")
    fits_slurm("prepare", partition, threads, mb, minutes, None, PREPARE_KEYS)
    return mb


def prepare_runtime(wildcards, attempt):
    """Wall-time limit of a prepare job (minutes), times the attempt."""
    return _prepare_limits(wildcards)[1] * attempt


def prepare_threads():
    """CPUs (torch threads) of a prepare job: `resources.prepare_threads`, default 2 (ml100k's
    text encoding uses them; the rest is mostly one thread)."""
    return config.get("resources", {}).get("prepare_threads", 2)


def prepare_resources():
    """Resources of a `prepare` job: memory and time from the config or sized to the dataset
    (crossrec.costs.prepare), on the CPU partition."""
    return {
        "mem_mb": prepare_mem_mb,
        "runtime": prepare_runtime,
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


def slurm_start():
    """At the start of a run on SLURM (onstart: never a dry run nor a local run):

    * jobs of this study that an earlier snakemake submitted and that still run — it was
      killed, and `snakemake --unlock` let this one start — end this run in one line with the
      two ways on (wait for them, or scancel them: their runs resume from their checkpoints),
      before it submits a duplicate that would train the same run again and delete the
      orphan's finished outputs (crossrec.cluster.live_jobs: this user's jobs with this
      working directory and a `rule_` comment);
    * on SLURM, job states are polled with squeue where sacct cannot report them (no
      accounting; one line says so), instead of waiting for ever."""
    if not on_slurm():
        return
    from crossrec.cluster import live_jobs, sacct_works

    if shutil.which("squeue"):
        orphans = live_jobs(os.getcwd())
        if orphans:
            ids = " ".join(j["id"] for j in orphans)
            rules = sorted({j["comment"].split("_wildcards_")[0][5:] for j in orphans})
            fail_now(
                ConfigError(
                    f"{len(orphans)} SLURM job(s) of this study from an earlier snakemake are "
                    f"still queued or running (ids {ids}; rules {', '.join(rules)}): wait until "
                    f"`squeue --me` no longer lists them, or stop them with `scancel {ids}` "
                    "(their runs resume from their checkpoints); then run the same command again"
                )
            )
    settings = workflow.executor_settings
    if getattr(settings, "status_command", None) == "sacct" and not sacct_works():
        settings.status_command = "squeue"
        print(
            "crossrec: sacct cannot report job states on this cluster (no accounting): "
            "polling with squeue",
            file=sys.stderr,
        )
