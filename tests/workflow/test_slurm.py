"""The SLURM profile submits correctly: a fake SLURM (sbatch, srun, sacct, ... on PATH, recording
their arguments and running the jobs at once) checks the exact sbatch requests per rule, without
a cluster."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow  # each test runs the workflow through the SLURM profile
FAKE = ROOT / "tests" / "fixtures" / "fake_slurm" / "fake_slurm.py"
COMMANDS = (
    "sbatch",
    "srun",
    "sacct",
    "squeue",
    "scontrol",
    "sinfo",
    "sacctmgr",
    "sshare",
    "scancel",
)
CONFIG = """
datasets:
  tiny: {source: folder, path: PATH}
backbones:
  lightgcn: {n_layers: 1}
plugins:
  none: {}
seeds: [1]
train: {epochs: 2, batch_size: 64, topk: [5, 10, 20], device: cpu}
resources: {train_threads: 2, train_mem_mb: 3000, train_runtime: 45}
"""


def _fake_slurm(bin_dir: Path) -> None:
    bin_dir.mkdir()
    for name in COMMANDS:
        target = bin_dir / name
        shim = f'exec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE))} {name} "$@"\n'
        target.write_text("#!/bin/sh\n" + shim)
        target.chmod(0o755)


def _calls(state: Path, cmd: str) -> list[list[str]]:
    lines = (state / "calls.jsonl").read_text().splitlines()
    return [c["args"] for c in map(json.loads, lines) if c["cmd"] == cmd]


def _flag(args: list[str], name: str) -> list[str]:
    """Every value given to option ``name`` (``--x=v`` or ``--x v``)."""
    out = []
    for i, arg in enumerate(args):
        if arg.startswith(name + "="):
            out.append(arg.split("=", 1)[1])
        elif arg == name and i + 1 < len(args):
            out.append(args[i + 1])
    return out


def _with_fake_slurm(  # noqa: ANN202
    tmp_path: Path, config: str, *extra: str, work: Path | None = None, **env_extra: str
):
    """Run the workflow with the SLURM profile against the fake SLURM: (process, state, work)
    (``work``: an earlier call's working directory, to run the study on)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    state, bin_dir = tmp_path / "slurm", tmp_path / "bin"
    state.mkdir()
    work = work or tmp_path / "work"
    work.mkdir(exist_ok=True)
    _fake_slurm(bin_dir)
    (work / "config.yaml").write_text(
        config.replace("PATH", str(ROOT / "tests" / "fixtures" / "tiny"))
    )
    env = dict(os.environ, FAKE_SLURM_DIR=str(state), **env_extra)
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env["PATH"]])
    snakemake = shutil.which("snakemake", path=env["PATH"])
    cmd = [
        snakemake, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
        "--workflow-profile", str(ROOT / "profiles" / "slurm"),
        "--configfile", str(work / "config.yaml"),
        "--slurm-init-seconds-before-status-checks", "1",
        "--latency-wait", "5", *extra,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work, timeout=600)
    return proc, state, work


def test_slurm_profile_requests(tmp_path: Path) -> None:
    proc, state, work = _with_fake_slurm(tmp_path, CONFIG)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (work / "results" / "tables" / "main.md").is_file()

    submitted = {}
    for args in _calls(state, "sbatch"):
        comment = _flag(args, "--comment")[0]
        # a rule's job: rule_<rule>_wildcards_...; a group's: rule_<group>_<rules>
        rule = re.match(r"rule_([a-z]+)", comment).group(1)
        submitted.setdefault(rule, []).append(args)
    # download, plan, tables, figures and all are local rules: only prepare and train reach sbatch
    assert set(submitted) == {"prepare", "train"}, sorted(submitted)
    (train,) = submitted["train"]
    (prepare,) = submitted["prepare"]

    # a CPU run asks for no GPU (test_cuda_runs_ask_for_one_gpu... for a CUDA run)
    assert not _flag(train, "--gpus") and not _flag(train, "--gres")
    assert not _flag(prepare, "--gpus") and not _flag(prepare, "--gres")
    # partitions, CPUs, memory, time and job name
    assert _flag(train, "-p") == ["cpu"] and _flag(prepare, "-p") == ["cpu"]
    # prepare: resources.prepare_threads' default, memory and time sized to the tiny folder
    assert _flag(train, "--cpus-per-task") == ["2"] and _flag(prepare, "--cpus-per-task") == ["2"]
    assert _flag(train, "--mem") == ["3000"] and _flag(prepare, "--mem") == ["1000"]
    assert _flag(train, "-t") == ["45"] and _flag(prepare, "-t") == ["10"]
    assert len(set(_flag(train, "--job-name") + _flag(prepare, "--job-name"))) == 1  # run id
    # crossrec trains with the CPUs asked for: the job step runs snakemake with --cores all,
    # i.e. the CPUs the job sees (its allocation on a cluster; this machine's here)
    run = work / "results" / "runs" / "tiny" / "lightgcn" / "none" / "default" / "seed1"
    threads = json.loads((run / "metrics.json").read_text())["cost"]["threads"]
    assert threads == min(2, len(os.sched_getaffinity(0)))
    (step,) = [a for a in _calls(state, "srun") if "train" in " ".join(a)]
    assert "--cpus-per-task=2" in step


def test_limits_come_from_the_study_s_own_finished_runs(tmp_path: Path) -> None:
    """Nothing known about a dataset: the fallback limits (120 min, 4,000 MB); once a run of
    it has finished, a new job's limits come from what that run measured (crossrec.costs)."""
    from crossrec.costs.learned import learned_rows, with_learned
    from crossrec.costs.table import CostTable, memory_mb, runtime_minutes

    config = CONFIG.replace(
        "train_threads: 2, train_mem_mb: 3000, train_runtime: 45", "train_threads: 1"
    )
    proc, state, work = _with_fake_slurm(tmp_path / "first", config)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (train,) = [a for a in _calls(state, "sbatch") if "rule_train" in " ".join(a)]
    assert _flag(train, "-t") == ["120"] and _flag(train, "--mem") == ["4000"]

    more = config.replace("seeds: [1]", "seeds: [1, 2]")
    proc, state, _ = _with_fake_slurm(tmp_path / "second", more, work=work)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (train,) = [a for a in _calls(state, "sbatch") if "rule_train" in " ".join(a)]  # seed 2
    assert "seed2" in " ".join(train)
    runs = work / "results" / "runs"
    learned, _ = learned_rows(runs, "cpu")
    assert learned[("tiny", "lightgcn", "none")]["runs"] == 2  # seed 1's, and now seed 2's
    row = with_learned(CostTable.load("cpu"), None).rows.get(("tiny", "lightgcn", "none"))
    assert row is None  # the shipped table knows nothing of tiny
    seed1 = json.loads((runs / "tiny/lightgcn/none/default/seed1/metrics.json").read_text())
    cost, epochs = seed1["cost"], seed1["epochs_run"]
    measured = {"build_s": 60.0, "epoch_s": cost["train_seconds"] / epochs,
                "eval_s": cost["eval_seconds"] / epochs, "peak_mb": cost["peak_memory_mb"]}  # fmt: skip
    assert _flag(train, "-t") == [str(runtime_minutes(measured, 2))] == ["10"]
    assert _flag(train, "--mem") == [str(memory_mb(measured, cuda=False))] != ["4000"]


def test_job_killed_for_time_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    config = CONFIG.replace("epochs: 2", "epochs: 60, patience: 1000")
    proc, state, work = _with_fake_slurm(tmp_path, config, FAKE_SLURM_TIMEOUT="train")
    assert proc.returncode == 0, proc.stderr[-4000:]
    trains = [a for a in _calls(state, "sbatch") if "rule_train" in " ".join(a)]
    assert len(trains) == 2  # killed at its time limit, then retried once (retries: 1)
    assert "--attempt 2" in _flag(trains[1], "--wrap")[0]
    # the retry asks for twice the time and memory (resources × attempt)
    assert _flag(trains[0], "-t") == ["45"] and _flag(trains[1], "-t") == ["90"]
    assert _flag(trains[0], "--mem") == ["3000"] and _flag(trains[1], "--mem") == ["6000"]
    killed = (state / "timed_out").read_text()
    assert f"{killed}|TIMEOUT" in subprocess.run(
        [sys.executable, str(FAKE), "sacct"], capture_output=True, text=True,
        env=dict(os.environ, FAKE_SLURM_DIR=str(state)),
    ).stdout  # fmt: skip
    log = work / "results" / "logs" / "train" / "tiny" / "lightgcn" / "none" / "default"
    assert "resumed from" in (log / "seed1.log").read_text()
    run = work / "results" / "runs" / "tiny" / "lightgcn" / "none" / "default" / "seed1"
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 60


CUDA = CONFIG.replace("device: cpu", "device: cuda").replace(
    "train_runtime: 45}", "train_runtime: 45, gpu_partition: a100, gpu_gres: 'shard:1'}"
)


def test_cuda_runs_ask_for_one_gpu_and_an_account_keeps_every_request(tmp_path: Path) -> None:
    """A CUDA run's job asks for its GPU once (the config's gres, here a GPU shard) on the GPU
    partition; the account given the way docs/cluster.md says (`--default-resources
    slurm_account=...`, which replaces the profile's default-resources) takes no partition,
    time or memory away from any job. No GPU here: the train job is recorded, not run."""
    account = ("--default-resources", "slurm_account=lab", "--retries", "0")
    proc, state, _ = _with_fake_slurm(tmp_path, CUDA, *account, FAKE_SLURM_HOLD="train")
    assert proc.returncode != 0  # the held train job "failed", as intended
    submitted = {}
    for args in _calls(state, "sbatch"):
        rule = re.match(r"rule_([a-z]+)", _flag(args, "--comment")[0]).group(1)
        submitted.setdefault(rule, []).append(args)
    (prepare,) = submitted["prepare"]
    train = submitted["train"][0]
    assert _flag(train, "--gres") == ["shard:1"] and not _flag(train, "--gpus")
    assert _flag(train, "-p") == ["a100"] and _flag(train, "-t") == ["45"]
    assert _flag(train, "--mem") == ["3000"] and _flag(train, "--cpus-per-task") == ["2"]
    assert _flag(prepare, "-p") == ["cpu"] and _flag(prepare, "-t") == ["10"]
    assert _flag(prepare, "--mem") == ["1000"] and not _flag(prepare, "--gres")
    for args in (prepare, train):
        assert _flag(args, "-A") == ["lab"] or "-A 'lab'" in " ".join(args), args
