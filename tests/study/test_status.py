"""`crossrec status` on a study partly done, partly running, stopped and failed: the counts per
stage, the failed run's log and last line, the hours spent and left — read from files only."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_learned_costs import _run

from crossrec.study import open_study
from crossrec.study.files import Selection, selection_path
from crossrec.study.progress import format_progress, progress
from crossrec.workflow_config import checked

CONFIG = {
    "datasets": {"mine": {"source": "ml100k"}},
    "backbones": {"lightgcn": {"n_layers": [1, 2, 3]}},
    "plugins": {"none": {}, "fettle": {"alpha": [1e-3, 1e-2]}},
    "stages": {"tune": {}, "align": {}},
    "seeds": [1, 2],
    "train": {"epochs": 10},
}


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """tune: n_layers=1 done, n_layers=2 failed, n_layers=3 done; tune selected; align:
    alpha=0.001 running (its lock held), alpha=0.01 stopped at a halving rung; replicate and
    the rest pending."""
    res = tmp_path / "results"
    runs, logs = res / "runs", res / "logs" / "train"
    for n, seconds in ((1, 100.0), (3, 260.0)):
        _run(runs, ("mine", "lightgcn", "none", f"n_layers={n}", 1), seconds, 8.0, 10, 300.0)
    log = logs / "mine/lightgcn/none/n_layers=2/seed1.log"
    log.parent.mkdir(parents=True)
    log.write_text("epoch 1 loss 0.5\n\ncrossrec: error: CUDA out of memory\n\n")
    sel = Selection("tune", "mine", "lightgcn", "none", "n_layers=3", {"n_layers": 3}, 0.5,
                    "valid recall@20", 1, [{"variant": "n_layers=3", "run": "mine/lightgcn/none/n_layers=3/seed1",
                      "score": 0.5}])  # fmt: skip
    sel.write(selection_path(res / "selections", "tune", "mine", "lightgcn", "none"))
    stopped = runs / "mine/lightgcn/fettle/alpha=0.01+n_layers=3/seed1"
    stopped.mkdir(parents=True)
    (stopped / "rung0.json").write_text("{}")
    return res


def _study(results: Path):  # noqa: ANN202
    return open_study(checked(CONFIG), results / "selections")


def test_counts_failures_and_hours(results: Path) -> None:
    from crossrec.costs import CostTable
    from crossrec.costs.learned import with_learned

    running = results / "runs/mine/lightgcn/fettle/alpha=0.001+n_layers=3/seed1"
    running.mkdir(parents=True)
    with (running / ".crossrec.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a training job holds it
        table = with_learned(CostTable.load("cpu"), results / "runs")
        state = progress(_study(results), results / "runs", results / "logs" / "train", table)
    rows = {r["stage"]: r for r in state["stages"]}
    assert {k: rows["tune"][k] for k in ("done", "failed", "pending")} == {
        "done": 2, "failed": 1, "pending": 0
    }  # fmt: skip
    assert {k: rows["align"][k] for k in ("running", "stopped", "pending")} == {
        "running": 1, "stopped": 1, "pending": 0
    }  # fmt: skip
    # replicate: none at n_layers=3 over seeds 1 (the tune run, done) and 2; fettle's 2 seeds
    # wait for the align selection
    assert rows["main"]["done"] == 1 and rows["main"]["pending"] == 1
    assert rows["main"]["not planned"] == 2
    (fail,) = state["failed"]
    assert fail["run"] == "mine/lightgcn/none/n_layers=2/seed1"
    assert fail["log"].endswith("logs/train/mine/lightgcn/none/n_layers=2/seed1.log")
    assert fail["error"] == "crossrec: error: CUDA out of memory"
    assert state["hours_spent"] == pytest.approx((108 + 268) / 3600, abs=0.005)
    # every run not done has a learned row (lightgcn/none) or a predicted one (fettle's factor)
    assert state["hours_left"] > 0 and state["left_unmeasured"] == 0
    text = format_progress(state)
    assert "failed: mine/lightgcn/none/n_layers=2/seed1  log: " in text
    assert "    crossrec: error: CUDA out of memory" in text
    # the lock released: the run is no longer running
    after = progress(_study(results), results / "runs", results / "logs" / "train")
    align = next(r for r in after["stages"] if r["stage"] == "align")
    assert align["running"] == 0 and align["stopped"] == 1 and after["hours_left"] is None


@pytest.mark.slow  # over 10 s: left out of the quick subset
def test_cli_status_json_and_text(results: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    cli = [sys.executable, "-m", "crossrec", "status", "--config", str(config),
           "--results", str(results)]  # fmt: skip
    text = subprocess.run(cli, capture_output=True, text=True)
    assert text.returncode == 0, text.stderr
    assert "compute spent: 0.10 h" in text.stdout and "mine/lightgcn/none/n_layers=2" in text.stdout
    blob = json.loads(subprocess.run([*cli, "--json"], capture_output=True, text=True).stdout)
    assert blob["failed"][0]["error"] == "crossrec: error: CUDA out of memory"
    before = sorted(p.relative_to(results) for p in results.rglob("*"))
    subprocess.run(cli, capture_output=True, text=True)
    assert sorted(p.relative_to(results) for p in results.rglob("*")) == before  # reads only
