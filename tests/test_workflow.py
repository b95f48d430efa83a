"""A tiny end-to-end ``snakemake`` run on the synthetic fixture (download → prepare → train → table)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
pytestmark = pytest.mark.workflow


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    snakemake = shutil.which("snakemake", path=env["PATH"])
    assert snakemake, "snakemake is not installed next to the test interpreter"
    cmd = [
        snakemake,
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "2",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)


def _config(workdir: Path, tiny: Path) -> None:
    text = (FIXTURES / "workflow_config.yaml").read_text().replace("PLACEHOLDER", str(tiny))
    (workdir / "config.yaml").write_text(text)


def test_tiny_workflow_end_to_end(tmp_path: Path) -> None:
    _config(tmp_path, FIXTURES / "tiny")
    proc = _snakemake(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (tmp_path / "results" / "tables" / "main.md").read_text().splitlines()
    assert len(table) == 2 + 12  # header, rule, 3 backbones x 2 plug-ins x 2 seeds
    assert any(line.startswith("| tiny | freedom | cross | default | 2 |") for line in table)
    assert any(line.startswith("| tiny | bpr | cross | default | 1 |") for line in table)
    data = tmp_path / "results" / "data" / "tiny"
    assert (data / "neighbors_k2.npy").is_file() and (data / "neighbors_k3.npy").is_file()
    assert any(line.startswith("| tiny | lightgcn | none | default | 2 |") for line in table)
    run = tmp_path / "results" / "runs" / "tiny" / "bpr" / "none" / "default" / "seed1"
    assert {"metrics.json", "history.csv", "config.yaml"} <= {p.name for p in run.iterdir()}
    assert (
        tmp_path / "results" / "logs" / "train" / "tiny" / "bpr" / "none" / "default" / "seed1.log"
    ).is_file()
    assert (
        tmp_path
        / "results"
        / "benchmarks"
        / "train"
        / "tiny"
        / "bpr"
        / "none"
        / "default"
        / "seed1.tsv"
    ).is_file()
    # Nothing left to do afterwards; one run can be forced again on its own.
    assert "Nothing to be done" in _snakemake(tmp_path, "-n").stdout
    target = str((run / "metrics.json").relative_to(tmp_path))
    again = _snakemake(tmp_path, "--forcerun", "train", "-n", target)
    assert again.returncode == 0 and "train" in again.stdout


def test_bad_dataset_fails_without_outputs(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(FIXTURES / "tiny", bad)
    (bad / "image_feat.npy").write_bytes(b"not a numpy file")
    _config(tmp_path, bad)
    proc = _snakemake(tmp_path)
    assert proc.returncode != 0
    log = (tmp_path / "results" / "logs" / "download" / "tiny.log").read_text()
    assert "image_feat.npy" in log and log.count("\n") == 1
    assert not (tmp_path / "resources" / "tiny").exists()
    assert not (tmp_path / "results" / "tables").exists()


def test_lint() -> None:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    proc = subprocess.run(
        [shutil.which("snakemake", path=env["PATH"]), "--lint"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
