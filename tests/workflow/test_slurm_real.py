"""The cluster route on a real SLURM: the one-node cluster `.ci/slurm start` brings up (2 CPUs
here, no accounting), driven through `profiles/slurm` exactly as docs/cluster.md prints it.

Skipped, saying so, where no SLURM answers (`.ci/run` starts one when it is root with apt;
`.ci/slurm start` by hand). What the Python fake (tests/workflow/test_slurm.py) still shows
and this cannot: a multi-node cluster's partitions and a GPU node's real `--gres` (this
machine has one node and no GPU; the GPU here is a placeholder file with 4 shards).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "tiny"
pytestmark = [pytest.mark.slurm, pytest.mark.workflow]


def _slurm_up() -> str | None:
    """Why SLURM cannot be used here, or None."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no SLURM client commands (.ci/slurm start installs and starts one)"
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%P %T"], capture_output=True, text=True,
                              timeout=30)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"sinfo does not answer ({err})"
    if proc.returncode != 0 or "idle" not in proc.stdout and "mix" not in proc.stdout:
        return f"no SLURM node ready ({(proc.stderr or proc.stdout).strip()[:200]})"
    return None


WHY = _slurm_up()
if WHY is not None:
    pytestmark.append(pytest.mark.skip(reason=f"real SLURM not available: {WHY}"))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def _snakemake(work: Path, *args: str, profile: str = "slurm", timeout: int = 600):
    """The documented command, in ``work``: ``snakemake --workflow-profile profiles/<profile>
    --configfile work/config.yaml ARGS``."""
    cmd = [shutil.which("snakemake", path=_env()["PATH"]), "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(work), "--workflow-profile", str(ROOT / "profiles" / profile),
           "--configfile", str(work / "config.yaml"), *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=work,
                          timeout=timeout)  # fmt: skip


def _smoke(work: Path, **edits: object) -> None:
    config = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    config["datasets"]["tiny"]["path"] = str(TINY)
    config.update(edits)
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(config))


def _jobs() -> list[str]:
    proc = subprocess.run(["squeue", "--me", "-h", "-o", "%i"], capture_output=True, text=True)
    return proc.stdout.split()


def test_the_smoke_study_runs_through_the_profile_as_printed(tmp_path: Path) -> None:
    """`snakemake --workflow-profile profiles/slurm --configfile config/smoke.yaml` with no
    extra flag on a 2-CPU node without accounting: prepare sized to the dataset (not 4 CPUs and
    32 GB), job states polled with squeue (sacct would wait for ever), every job through
    sbatch; the tables equal a local run's (timing columns aside, per-user files
    byte-identical)."""
    on_slurm, local = tmp_path / "slurm", tmp_path / "local"
    _smoke(on_slurm)
    _smoke(local)
    started = time.monotonic()
    proc = _snakemake(on_slurm)
    wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "polling with squeue" in proc.stderr
    log = proc.stdout + proc.stderr
    runs = len(list((on_slurm / "results" / "runs").rglob("metrics.json")))
    assert log.count("has been submitted with SLURM jobid") == 1 + runs  # prepare + each run
    prepare = log[log.index("rule prepare:") :].split("\n\n")[0]
    assert "threads: 2" in prepare and "mem_mb=1000," in prepare and "runtime=10," in prepare
    assert _snakemake(local, profile="default").returncode == 0
    timing = {"seconds_per_epoch", "peak_memory_mb", "epochs_run"}
    for name in ("main", "runs", "significance", "selection"):
        a = pd.read_csv(on_slurm / "results" / "tables" / f"{name}.csv")
        b = pd.read_csv(local / "results" / "tables" / f"{name}.csv")
        keep = [c for c in a.columns if c not in timing]
        pd.testing.assert_frame_equal(a[keep], b[keep], check_exact=True)
    for run in (local / "results" / "runs").rglob("test_per_user.csv"):
        twin = on_slurm / run.relative_to(local)
        assert twin.read_bytes() == run.read_bytes(), run
    print(f"smoke study on SLURM: {wall:.0f} s")


def test_a_job_no_node_can_run_ends_the_workflow_in_one_line(tmp_path: Path) -> None:
    """A prepare job asking for more CPUs than any node has would pend for ever
    (PartitionConfig): refused before anything is submitted, naming the rule and the key."""
    _smoke(tmp_path, resources={"train_threads": 1, "prepare_threads": 64})
    before = set(_jobs())
    proc = _snakemake(tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("crossrec: error:")]
    assert (
        len(errors) == 1
        and "resources.prepare_threads: rule prepare asks for 64 CPUs" in (errors[0])
    ), proc.stderr[-3000:]
    assert set(_jobs()) <= before  # nothing submitted


def test_four_shard_jobs_share_the_gpu_and_a_fifth_waits(tmp_path: Path) -> None:
    """The placeholder GPU's 4 shards: four `--gres=shard:1` jobs run at once, a fifth pends
    until one ends (the packing `resources.gpu_gres: shard:1` relies on)."""
    ids = []
    for i in range(5):
        proc = subprocess.run(
            ["sbatch", "--parsable", "-p", "gpu", "--gres=shard:1", "-c", "1",
             "--mem=100", "-o", str(tmp_path / f"{i}.out"), "--wrap", "sleep 20"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        ids.append(proc.stdout.strip())
    try:
        states: dict[str, str] = {}
        for _ in range(30):
            out = subprocess.run(["squeue", "-h", "-j", ",".join(ids), "-o", "%i %T %r"],
                                 capture_output=True, text=True).stdout  # fmt: skip
            states = {line.split()[0]: line.split()[1] for line in out.splitlines()}
            if list(states.values()).count("RUNNING") >= 4:
                break
            time.sleep(1)
        time.sleep(2)  # a fifth job that could start would have started by now
        out = subprocess.run(["squeue", "-h", "-j", ",".join(ids), "-o", "%i %T %r"],
                             capture_output=True, text=True).stdout  # fmt: skip
        states = {line.split()[0]: line.split(None, 2)[1:] for line in out.splitlines()}
        running = [j for j, (s, _) in states.items() if s == "RUNNING"]
        pending = [(j, r) for j, (s, r) in states.items() if s == "PENDING"]
        # the gpu partition shares the 2 CPUs (.ci/slurm), so only the shards bound it
        assert len(running) == 4 and len(pending) == 1, states
        assert pending[0][1] == "Resources", pending
    finally:
        subprocess.run(["scancel", *ids], capture_output=True)
