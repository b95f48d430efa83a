"""run.yaml, one run's definition file: written by `crossrec plan --runs-dir` and the workflow's
`define` rule, read by `crossrec train --run`; untouched when unchanged, refused in a folder
crossrec did not make."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crossrec.errors import ConfigError, OutputError
from crossrec.experiment import Experiment
from crossrec.runfile import RUN_FILE, write_run_file
from crossrec.train import RunSpec
from crossrec.workflow_config import checked

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
RUN = {
    "dataset": "tiny",
    "backbone": "freedom",
    "plugin": "cross",
    "variant": "alpha=0.01",
    "seed": 1,
    "backbone_params": {"knn_k": 4},
    "plugin_params": {"alpha": 0.01, "cla_prototypes": 16},
    "train": {"epochs": 3, "topk": [5, 10, 20], "device": "cpu"},
}


def _crossrec(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crossrec", *args], capture_output=True, text=True)


def test_written_once_read_back_and_left_alone_when_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "run" / RUN_FILE
    assert write_run_file(RUN, path)
    assert yaml.safe_load(path.read_text()) == RUN
    assert RunSpec.from_dict(yaml.safe_load(path.read_text())).plugin_params["alpha"] == 0.01
    before = path.stat().st_mtime_ns
    assert not write_run_file(dict(RUN), path)  # the same run: no write, same mtime
    assert path.stat().st_mtime_ns == before
    assert write_run_file({**RUN, "seed": 2}, path)
    assert yaml.safe_load(path.read_text())["seed"] == 2


def test_refuses_a_foreign_folder_and_a_run_without_identity(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not made by crossrec"):
        write_run_file(RUN, tmp_path / RUN_FILE)
    assert not (tmp_path / RUN_FILE).exists()
    with pytest.raises(ConfigError, match="missing key\\(s\\) 'seed'"):
        write_run_file({k: v for k, v in RUN.items() if k != "seed"}, tmp_path / "x" / RUN_FILE)
    proc = _crossrec("define", "--run-json", "{not json", "--out", str(tmp_path / "y" / RUN_FILE))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--run-json" in proc.stderr
    assert not (tmp_path / "y").exists()


def test_plan_writes_every_runs_file(tmp_path: Path) -> None:
    text = (FIXTURES / "workflow_config.yaml").read_text().replace("PLACEHOLDER", str(tmp_path))
    config_file = tmp_path / "config.yaml"
    config_file.write_text(text)
    runs = tmp_path / "runs"
    proc = _crossrec("plan", "--config", str(config_file), "--runs-dir", str(runs))
    assert proc.returncode == 0, proc.stderr
    experiment = Experiment(checked(yaml.safe_load(text)))
    keys = experiment.runs()
    files = sorted(runs.rglob(RUN_FILE))
    assert len(files) == len(keys) == 15 and f"({len(keys)} run files written)" in proc.stderr
    for key in keys:
        blob = yaml.safe_load((runs / key.path() / RUN_FILE).read_text())
        assert blob == experiment.run_definition(key)
        assert RunSpec.from_dict(blob).seed == key.seed
    again = _crossrec("plan", "--config", str(config_file), "--runs-dir", str(runs))
    assert again.returncode == 0 and "(0 run files written)" in again.stderr
    # a foreign file in one run folder of a fresh root: refused before anything is written
    fresh = tmp_path / "fresh"
    (fresh / keys[-1].path()).mkdir(parents=True)
    (fresh / keys[-1].path() / "notes.txt").write_text("mine")
    refused = _crossrec("plan", "--config", str(config_file), "--runs-dir", str(fresh))
    assert refused.returncode == 2 and "not made by crossrec" in refused.stderr
    assert list(fresh.rglob(RUN_FILE)) == []
    # a plan.json target that is not crossrec's: refused before any run file is written
    (tmp_path / "plan.json").write_text("{}")
    refused = _crossrec("plan", "--config", str(config_file), "--runs-dir", str(tmp_path / "new"),
                        "--out", str(tmp_path / "plan.json"))  # fmt: skip
    assert refused.returncode == 2 and "not a crossrec plan" in refused.stderr
    assert not (tmp_path / "new").exists()
