"""What a SLURM partition can run, read from ``sinfo``: a job asking for more CPUs, memory,
time or GPU resources than any node of its partition offers is never scheduled — it pends
for ever (``PartitionConfig``, ``Resources``) and Snakemake waits with it, printing nothing.
:func:`check_request` refuses such a request before it is submitted, in one line naming the
rule and the config key that sets the request (the workflow calls it while it builds the
jobs, when it runs with the SLURM executor).
"""

from __future__ import annotations

import functools
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from crossrec.errors import ConfigError


@dataclass(frozen=True)
class Node:
    """One node of a partition as ``sinfo`` lists it: CPUs, memory (MB), generic resources
    (``{name: count}``, e.g. ``{"gpu": 1, "shard": 4}``) and the partition's time limit
    (minutes; None: unlimited)."""

    cpus: int
    mem_mb: int
    gres: Mapping[str, int]
    max_minutes: int | None


def minutes_of(limit: str) -> int | None:
    """A SLURM time limit in minutes: ``infinite``/``UNLIMITED`` → None, ``1-02:00:00`` → 1560,
    ``2:00:00`` → 120, ``30:00`` → 30, ``45`` → 45."""
    text = limit.strip().lower()
    if text in ("infinite", "unlimited", "n/a", ""):
        return None
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    hours, minutes, seconds = (
        (0, parts[0], 0) if len(parts) == 1
        else (0, parts[0], parts[1]) if len(parts) == 2
        else (parts[0], parts[1], parts[2])
    )  # fmt: skip
    return (int(days or 0) * 24 + hours) * 60 + minutes + (1 if seconds else 0)


def gres_of(text: str) -> dict[str, int]:
    """``gpu:1,shard:4`` / ``gpu:a100:4(S:0-1)`` → ``{"gpu": 1, "shard": 4}`` (``(null)``: none)."""
    out: dict[str, int] = {}
    for item in re.sub(r"\([^)]*\)", "", text).split(","):
        fields = [f for f in item.strip().split(":") if f]
        if not fields or fields[0] == "null" or item.strip() == "(null)":
            continue
        count = int(fields[-1]) if len(fields) > 1 and fields[-1].isdigit() else 1
        out[fields[0]] = out.get(fields[0], 0) + count
    return out


@functools.cache
def partition_nodes(partition: str) -> tuple[Node, ...]:
    """The nodes of ``partition`` (``sinfo -N -p``; empty: no such partition). ConfigError when
    ``sinfo`` does not answer."""
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-N", "-p", partition, "-o", "%c|%m|%G|%l"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ConfigError(f"sinfo: cannot ask SLURM for partition {partition!r} ({err})") from None
    if proc.returncode != 0:
        raise ConfigError(f"sinfo: {proc.stderr.strip()[:300] or 'failed'}")
    nodes = []
    for line in proc.stdout.splitlines():
        cpus, mem, gres, limit = (line.split("|") + ["", "", "", ""])[:4]
        try:
            nodes.append(Node(int(cpus.rstrip("+")), int(re.sub(r"\D", "", mem) or 0),
                              gres_of(gres), minutes_of(limit)))  # fmt: skip
        except ValueError:
            raise ConfigError(f"sinfo: cannot read its line {line[:100]!r}") from None
    return tuple(nodes)


def check_request(
    rule: str,
    partition: str,
    cpus: int,
    mem_mb: int,
    minutes: int,
    gres: str | None,
    keys: Mapping[str, str],
) -> None:
    """ConfigError unless some node of ``partition`` can run a job of ``rule`` asking for
    ``cpus`` CPUs, ``mem_mb`` MB, ``minutes`` of time and ``gres`` (``gpu:1``, ``shard:1``);
    ``keys`` name the config key behind each request (``partition``, ``cpus``, ``mem``,
    ``time``, ``gres``), so the message says what to change."""
    nodes = partition_nodes(partition)
    if not nodes:
        raise ConfigError(
            f"{keys['partition']}: rule {rule} asks for SLURM partition {partition!r}, which "
            "sinfo does not list"
        )
    wanted = gres_of(gres) if gres else {}
    limits = [n.max_minutes for n in nodes]
    if all(limit is not None for limit in limits) and minutes > max(limits):  # type: ignore[type-var]
        raise ConfigError(
            f"{keys['time']}: rule {rule} asks for {minutes} minutes; partition {partition} "
            f"allows {max(limits)}"
        )
    checks = (
        ("cpus", cpus, max(n.cpus for n in nodes), "CPUs"),
        ("mem", mem_mb, max(n.mem_mb for n in nodes), "MB of memory"),
    )
    for key, asked, most, what in checks:
        if asked > most:
            raise ConfigError(
                f"{keys[key]}: rule {rule} asks for {asked} {what}; the largest node of "
                f"partition {partition} has {most} (the job would pend for ever)"
            )
    for name, count in wanted.items():
        if not any(n.gres.get(name, 0) >= count for n in nodes):
            raise ConfigError(
                f"{keys['gres']}: rule {rule} asks for gres {gres}; no node of partition "
                f"{partition} has {count} {name} (sinfo: "
                f"{sorted({k for n in nodes for k in n.gres}) or 'no gres'})"
            )
    fits = [n for n in nodes
            if n.cpus >= cpus and n.mem_mb >= mem_mb
            and all(n.gres.get(k, 0) >= c for k, c in wanted.items())]  # fmt: skip
    if not fits:
        raise ConfigError(
            f"{keys['mem']}: rule {rule} asks for {cpus} CPUs, {mem_mb} MB and gres {gres or '-'} "
            f"together; no single node of partition {partition} has them all"
        )


def sacct_works() -> bool:
    """Whether ``sacct`` can report job states here: installed, and the cluster keeps
    accounting (without slurmdbd it answers "Slurm accounting storage is disabled", and the
    SLURM executor, which polls with sacct wherever sacct is installed, would wait for ever on
    jobs long finished)."""
    try:
        proc = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, text=True,
                              timeout=60)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "disabled" not in (proc.stdout + proc.stderr).lower()


def live_jobs(workdir: str) -> list[dict[str, str]]:
    """This user's SLURM jobs still queued or running whose working directory is ``workdir``
    and that Snakemake's SLURM executor submitted (its ``--comment rule_<rule>...``): ``{id,
    state, comment}`` each; [] without ``squeue``."""
    try:
        proc = subprocess.run(
            ["squeue", "--me", "-h", "-t", "PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED",
             "-o", "%i|%T|%k|%Z"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:
        return []
    jobs = []
    for line in proc.stdout.splitlines():
        job, state, comment, where = (line.split("|", 3) + ["", "", "", ""])[:4]
        if where.rstrip("/") == workdir.rstrip("/") and comment.startswith("rule_"):
            jobs.append({"id": job, "state": state, "comment": comment})
    return jobs
