"""run.yaml, one run's definition file (crossrec.run): written by `crossrec plan --runs` (the
workflow's `plan` checkpoint) with every default filled in, read by `crossrec train --run`;
untouched when unchanged, hand edits kept until the config changes that run, refused in a folder
crossrec did not make."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crossrec.errors import OutputError
from crossrec.run import RUN_FILE, RunSpec, read_run_file, write_run_file
from crossrec.study import open_study
from crossrec.workflow_config import checked

ROOT = Path(__file__).resolve().parents[2]
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
    run = RunSpec.from_dict(RUN)
    assert write_run_file(run, path)
    assert yaml.safe_load(path.read_text()) == run.to_dict()
    assert read_run_file(path) == run and read_run_file(path).plugin_params["alpha"] == 0.01
    before = path.stat().st_mtime_ns
    assert not write_run_file(RunSpec.from_dict(dict(RUN)), path)  # same run: no write
    assert path.stat().st_mtime_ns == before
    assert write_run_file(RunSpec.from_dict({**RUN, "seed": 2}), path)
    assert read_run_file(path).seed == 2


def test_a_planned_file_keeps_hand_edits_until_its_definition_changes(tmp_path: Path) -> None:
    path = tmp_path / "run" / RUN_FILE
    run = RunSpec.from_dict(RUN)
    assert write_run_file(run, path, planned=True)
    path.write_text(path.read_text().replace("epochs: 3", "epochs: 7"))
    assert not write_run_file(run, path, planned=True)  # the same plan: the edit stays
    assert read_run_file(path).train.epochs == 7
    changed = RunSpec.from_dict({**RUN, "plugin_params": {"alpha": 0.1}})
    assert write_run_file(changed, path, planned=True)  # the config changed this run
    assert read_run_file(path) == changed


def test_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not made by crossrec"):
        write_run_file(RunSpec.from_dict(RUN), tmp_path / RUN_FILE)
    assert not (tmp_path / RUN_FILE).exists()


@pytest.mark.slow  # over 10 s: left out of the quick subset
def test_plan_writes_every_runs_file(tmp_path: Path) -> None:
    text = (
        (FIXTURES / "workflow_config.yaml")
        .read_text()
        .replace("PLACEHOLDER", str(FIXTURES / "tiny"))
    )
    config_file = tmp_path / "config.yaml"
    config_file.write_text(text)
    runs = tmp_path / "runs"
    proc = _crossrec("plan", "--config", str(config_file), "--runs", str(runs))
    assert proc.returncode == 0, proc.stderr
    experiment = open_study(checked(yaml.safe_load(text)))
    keys = experiment.runs()
    files = sorted(runs.rglob(RUN_FILE))
    # 15 of the main, ablation and sensitivity studies, 4 of the knock-out on image or text only
    assert len(files) == len(keys) == 19 and f"({len(keys)} run files written)" in proc.stderr
    for key in keys:
        run = read_run_file(runs / key.path() / RUN_FILE)
        assert run == experiment.run_definition(key) and run.key == key
        assert "emb_size" in run.backbone_params and "patience" in run.to_dict()["train"]
        assert key.plugin == "none" or "cla_temp" in run.plugin_params
    again = _crossrec("plan", "--config", str(config_file), "--runs", str(runs))
    assert again.returncode == 0 and "(0 run files written)" in again.stderr
    # a foreign file in one run folder of a fresh root: refused before anything is written
    fresh = tmp_path / "fresh"
    (fresh / keys[-1].path()).mkdir(parents=True)
    (fresh / keys[-1].path() / "notes.txt").write_text("mine")
    refused = _crossrec("plan", "--config", str(config_file), "--runs", str(fresh))
    assert refused.returncode == 2 and "not made by crossrec" in refused.stderr
    assert list(fresh.rglob(RUN_FILE)) == []
    # a plan.json target that is not crossrec's: refused before any run file is written
    (tmp_path / "plan.json").write_text("{}")
    refused = _crossrec("plan", "--config", str(config_file), "--runs", str(tmp_path / "new"),
                        "--out", str(tmp_path / "plan.json"))  # fmt: skip
    assert refused.returncode == 2 and "not a crossrec plan" in refused.stderr
    assert not (tmp_path / "new").exists()
