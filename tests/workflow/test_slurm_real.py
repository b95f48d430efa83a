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


QUICK = ["--slurm-init-seconds-before-status-checks", "5", "--seconds-between-status-checks", "5"]
"""Poll job states sooner than the executor's 40 s start (tests other than the printed one)."""


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
    assert not any((tmp_path / ".snakemake" / "locks").glob("*"))  # and no lock left behind


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


def test_a_run_past_its_time_limit_is_signalled_early_and_resumes(tmp_path: Path) -> None:
    """`resources.train_runtime: 1` for a run of about a minute: SLURM sends SIGTERM
    a margin before the limit (`--signal=TERM@30`; SLURM may send it up to a minute earlier
    still), the run ends its epoch, writes its checkpoint and exits 75 — never killed at the
    limit —, and the retry (twice the time) or the next `snakemake` resumes it: every epoch
    trained once, all of them."""
    import json
    import re

    probe = tmp_path / "probe"
    subprocess.run([sys.executable, "-m", "crossrec", "train", "--data", str(TINY), "--backbone",
                    "lightgcn", "--train", "epochs=100", "--train", "patience=100", "--train",
                    "topk=[5, 10, 20]", "--threads", "1", "--out", str(probe)],
                   check=True, capture_output=True)  # fmt: skip
    history = pd.read_csv(probe / "history.csv")
    per_epoch = float((history["train_seconds"] + history["eval_seconds"]).mean()) * 3  # + logging
    epochs = max(300, int(60 / per_epoch))
    work = tmp_path / "study"
    _smoke(work, backbones={"lightgcn": {"n_layers": 2}}, plugins={"none": {}},
           train={"epochs": epochs, "patience": epochs, "batch_size": 64, "topk": [5, 10, 20],
                  "device": "cpu"},
           resources={"train_threads": 1, "train_runtime": 1})  # fmt: skip
    log = work / "results" / "logs" / "train" / "tiny" / "lightgcn" / "none" / "default"
    resumes = []
    for _ in range(4):  # the documented way on: run the same command again
        proc = _snakemake(work, *QUICK, timeout=900)
        text = (log / "seed1.log").read_text()
        resumes += [int(k) for k in re.findall(r"resumed from .* after epoch (\d+)", text)]
        assert "DUE TO TIME LIMIT" not in proc.stdout + proc.stderr
        if proc.returncode == 0:
            break
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert resumes and all(0 < k < epochs for k in resumes), resumes
    run = work / "results" / "runs" / "tiny" / "lightgcn" / "none" / "default" / "seed1"
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == list(range(1, epochs + 1))  # each epoch once, all
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == epochs
    # each signalled attempt ended before its limit (SLURM kills at the limit itself): its job
    # log (kept for a failed job) ends with the job's elapsed time. A first attempt has 1
    # minute, a retry 2: every one ended well inside 2, and some first attempt inside 1
    failed = sorted((work / ".snakemake" / "slurm_logs" / "rule_train").rglob("*.log"))
    assert failed, "no attempt was signalled"
    seconds = []
    for job in failed:
        clock = re.findall(r"Elapsed time: (\d+):(\d\d):(\d\d)", job.read_text())[-1]
        seconds.append(int(clock[0]) * 3600 + int(clock[1]) * 60 + int(clock[2]))
    assert max(seconds) < 110 and min(seconds) < 55, seconds


def test_a_hard_killed_snakemake_is_recovered_without_training_twice(tmp_path: Path) -> None:
    """`kill -9` of the main snakemake while its SLURM job trains: the job keeps running. The
    documented recovery — `snakemake --unlock`, the same command — refuses in one line naming
    the orphaned job instead of submitting a duplicate; after `scancel` of it (SIGTERM: the run
    ends its epoch and writes its checkpoint) the same command resumes the run: every epoch in
    history.csv once, the run complete."""
    import json
    import signal

    epochs = 3000
    _smoke(tmp_path, backbones={"lightgcn": {"n_layers": 2}}, plugins={"none": {}},
           train={"epochs": epochs, "patience": epochs, "batch_size": 64, "topk": [5, 10, 20],
                  "device": "cpu"},
           resources={"train_threads": 1, "checkpoint_minutes": 0})  # fmt: skip
    cmd = [shutil.which("snakemake", path=_env()["PATH"]), "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(tmp_path), "--workflow-profile", str(ROOT / "profiles" / "slurm"),
           "--configfile", str(tmp_path / "config.yaml"), *QUICK]  # fmt: skip
    log = tmp_path / "results/logs/train/tiny/lightgcn/none/default/seed1.log"
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=_env(), cwd=tmp_path)  # fmt: skip
    try:
        for _ in range(300):
            if log.is_file() and log.read_text().count(f"/{epochs} loss") >= 20:
                break
            time.sleep(1)
        else:
            pytest.fail("the training job did not start within 5 minutes")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    orphans = _jobs()
    assert orphans, "the SLURM job died with its snakemake"
    status = subprocess.run([sys.executable, "-m", "crossrec", "status", "--config",
                             str(tmp_path / "config.yaml"), "--json"], capture_output=True,
                            text=True, cwd=tmp_path)  # fmt: skip
    listed = json.loads(status.stdout)["slurm_jobs"]
    assert [j["id"] for j in listed] == orphans and listed[0]["comment"].startswith("rule_train")
    assert _snakemake(tmp_path, "--unlock").returncode == 0
    refused = _snakemake(tmp_path, *QUICK, timeout=300)
    assert refused.returncode == 2, refused.stderr[-3000:]
    errors = [line for line in refused.stderr.splitlines() if line.startswith("crossrec: error:")]
    assert len(errors) == 1 and "still queued or running" in errors[0], refused.stderr[-3000:]
    assert all(j in errors[0] for j in orphans) and "rules train" in errors[0]
    subprocess.run(["scancel", *orphans], check=True)
    for _ in range(120):
        if not set(_jobs()) & set(orphans):
            break
        time.sleep(1)
    done = _snakemake(tmp_path, *QUICK, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from" in log.read_text()
    run = tmp_path / "results/runs/tiny/lightgcn/none/default/seed1"
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == list(range(1, epochs + 1))
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == epochs


def test_ctrl_c_cancels_a_pending_job(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) of snakemake while its job waits in the queue: the job is cancelled,
    none outlives the run (the node is kept busy so the job pends)."""
    import signal

    _smoke(tmp_path)
    busy = subprocess.run(["sbatch", "--parsable", "-p", "cpu", "-c", str(os.cpu_count() or 2),
                           "--mem=100", "-o", "/dev/null", "--wrap", "sleep 300"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    try:
        cmd = [shutil.which("snakemake", path=_env()["PATH"]), "--snakefile",
               str(ROOT / "Snakefile"), "--directory", str(tmp_path), "--workflow-profile",
               str(ROOT / "profiles" / "slurm"), "--configfile", str(tmp_path / "config.yaml")]  # fmt: skip
        log = tmp_path / "snakemake.log"
        with log.open("w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_env(),
                                    cwd=tmp_path,
                                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
            for _ in range(180):
                if "has been submitted with SLURM jobid" in log.read_text():
                    break
                time.sleep(1)
            pending = set(_jobs()) - {busy}
            assert pending, log.read_text()[-2000:]
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=180)
        time.sleep(2)
        assert not set(_jobs()) & pending, (pending, log.read_text()[-2000:])
    finally:
        subprocess.run(["scancel", busy], capture_output=True)
