"""Costs learned from the runs already done: a finished run's measurements become a row that
wins over the shipped one, a missing row is predicted (and says from what), and the job limits
and the estimate read them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossrec.costs import CostTable, estimate, format_estimate, job_limits
from crossrec.costs.learned import ASSUMED_BUILD_S, learned_rows, with_learned
from crossrec.costs.predict import predict
from crossrec.costs.table import runtime_minutes
from crossrec.workflow_config import checked

SIZE = {"n_users": 100, "n_items": 50, "n_train": 800, "n_valid": 100, "n_test": 100}


def _run(root: Path, key: tuple, train_s: float, eval_s: float, epochs: int, peak: float,
         device: str = "cpu", threads: int = 1) -> Path:  # fmt: skip
    folder = root.joinpath(*map(str, key[:4]), f"seed{key[4]}")
    folder.mkdir(parents=True, exist_ok=True)
    fields = ("dataset", "backbone", "plugin", "variant", "seed")
    blob = {
        "schema": 1,
        "identity": dict(zip(fields, key, strict=True)),
        "best_epoch": 1,
        "epochs_run": epochs,
        "cost": {"train_seconds": train_s, "eval_seconds": eval_s, "peak_memory_mb": peak,
                 "seconds_per_epoch": train_s / epochs, "threads": threads},
        "provenance": {"device": device, "data": SIZE},
        "valid": {"recall@20": 0.1},
        "test": {"recall@20": 0.1},
    }  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(blob))
    return folder


def test_rows_are_the_median_per_epoch_and_the_peak(tmp_path: Path) -> None:
    _run(tmp_path, ("mine", "lightgcn", "none", "a", 1), 10.0, 2.0, 10, 300.0)
    _run(tmp_path, ("mine", "lightgcn", "none", "b", 1), 30.0, 4.0, 10, 500.0)
    _run(tmp_path, ("mine", "lightgcn", "none", "c", 1), 40.0, 2.0, 20, 400.0)
    _run(tmp_path, ("mine", "lightgcn", "cross_no_cla", "a", 1), 8.0, 1.0, 4, 600.0)
    _run(tmp_path, ("mine", "lightgcn", "none", "d", 1), 1.0, 1.0, 1, 9e9, device="cuda:0")
    (tmp_path / "mine" / "lightgcn" / "none" / "e" / "seed1").mkdir(parents=True)  # failed run
    (tmp_path / "mine" / "lightgcn" / "none" / "e" / "seed1" / "metrics.json").write_text("{")
    rows, sizes = learned_rows(tmp_path, "cpu")
    alone = rows[("mine", "lightgcn", "none")]
    assert alone["epoch_s"] == pytest.approx(2.0)  # median of 1.0, 3.0, 2.0
    assert alone["eval_s"] == pytest.approx(0.2)  # median of 0.2, 0.4, 0.1
    assert alone["peak_mb"] == 500.0 and alone["runs"] == 3  # the CUDA run is not a CPU one
    assert rows[("mine", "lightgcn", "cross")]["epoch_s"] == pytest.approx(2.0)  # its family
    assert sizes == {"mine": (100, 50, 1000)}
    cuda, _ = learned_rows(tmp_path, "cuda")
    assert cuda[("mine", "lightgcn", "none")]["peak_mb"] == 9e9


def test_learned_rows_win_over_shipped_ones(tmp_path: Path) -> None:
    shipped = CostTable.load("cpu")
    before = shipped.row("baby", "lightgcn", "none")
    _run(tmp_path, ("baby", "lightgcn", "none", "a", 1), 50.0, 5.0, 10, 700.0)
    table = with_learned(shipped, tmp_path)
    row = table.row("baby", "lightgcn", "none")
    assert row["epoch_s"] == pytest.approx(5.0) and row["eval_s"] == pytest.approx(0.5)
    assert row["build_s"] == before["build_s"]  # runs do not record start-up: the shipped one
    assert table.learned == 1 and "learned from 1 run" in table.origin[("baby", "lightgcn", "none")]
    assert table.row("baby", "bpr", "none") == shipped.row("baby", "bpr", "none")
    _run(tmp_path, ("mine", "lightgcn", "none", "a", 1), 50.0, 5.0, 10, 700.0)
    own = with_learned(shipped, tmp_path).row("mine", "lightgcn", "none")
    assert own["build_s"] == ASSUMED_BUILD_S


def test_a_missing_row_is_predicted_and_says_from_what() -> None:
    rows = {
        ("big", "lightgcn", "none"): {"build_s": 10, "epoch_s": 4.0, "eval_s": 2.0, "peak_mb": 800},
        ("big", "lightgcn", "fettle"): {"build_s": 20, "epoch_s": 12.0, "eval_s": 2.0,
                                         "peak_mb": 1600},
        ("huge", "lightgcn", "fettle"): {"build_s": 1, "epoch_s": 1.0, "eval_s": 1.0,
                                          "peak_mb": 1},
        ("small", "lightgcn", "none"): {"build_s": 5, "epoch_s": 1.0, "eval_s": 0.5,
                                         "peak_mb": 100},
    }  # fmt: skip
    sizes = {"big": (100, 100, 10_000), "huge": (1000, 1000, 10**6), "small": (10, 50, 1_000)}
    # the plug-in's factor on the nearest dataset that measured both, times the backbone alone
    row, note = predict(rows, sizes, ("small", "lightgcn", "fettle"))
    assert row == {"build_s": 10, "epoch_s": 3.0, "eval_s": 0.5, "peak_mb": 200}
    assert "small/lightgcn/none x fettle's factor on big" in note
    # no backbone-alone row: the nearest dataset's row scaled by the sizes
    sizes["mid"] = (50, 100, 20_000)  # 2x big's interactions, half its users x items
    row, note = predict(rows, sizes, ("mid", "lightgcn", "none"))
    assert row == pytest.approx({"build_s": 20, "epoch_s": 8.0, "eval_s": 1.0, "peak_mb": 1600})
    assert "big/lightgcn/none scaled by size (interactions x2" in note
    assert predict(rows, sizes, ("nowhere", "lightgcn", "none")) is None  # size unknown
    assert predict(rows, sizes, ("mid", "vbpr", "none")) is None  # backbone never measured


def test_predicted_rows_are_recorded_by_the_table() -> None:
    table = with_learned(CostTable.load("cpu"), None)
    assert ("ml100k", "lightgcn", "none") not in table.rows  # the shipped table has no ml100k
    row = table.row("ml100k", "lightgcn", "none")
    assert row is not None and "predicted" in table.predicted[("ml100k", "lightgcn", "none")]
    assert CostTable.load("cpu").row("ml100k", "lightgcn", "none") is None  # no sizes: none


CONFIG = {
    "datasets": {"mine": {"source": "ml100k"}},
    "backbones": {"lightgcn": {"n_layers": 2}},
    "plugins": {"none": {}, "fettle": {}},
    "seeds": [1, 2],
    "train": {"epochs": 10},
}


def test_the_estimate_answers_in_hours_from_the_runs_done(tmp_path: Path) -> None:
    table = CostTable.load("cpu")
    before = estimate(checked(CONFIG), with_learned(table, tmp_path))
    assert before["total"]["hours"] is None  # 'mine' is of unknown size, nothing measured
    _run(tmp_path, ("mine", "lightgcn", "none", "x", 7), 360.0, 36.0, 10, 700.0)
    est = estimate(checked(CONFIG), with_learned(table, tmp_path))
    assert est["total"]["unmeasured"] == 0
    alone = 2 * (ASSUMED_BUILD_S + 10 * (36 + 3.6)) / 3600  # two seeds, 10 epochs each
    assert est["studies"]["main"]["hours"] > round(alone, 1)  # fettle's predicted runs on top
    text = format_estimate(est)
    assert "row mine/lightgcn/none learned from 1 run" in text
    assert "row mine/lightgcn/fettle predicted: mine/lightgcn/none x fettle's factor on" in text


def test_job_limits_from_the_runs_done(tmp_path: Path) -> None:
    assert job_limits("mine", "lightgcn", "none", "cpu", 100, tmp_path) == (None, None)
    runs = tmp_path / "runs"
    _run(runs, ("mine", "lightgcn", "none", "x", 7), 120.0, 12.0, 10, 700.0)
    mem, minutes = job_limits("mine", "lightgcn", "none", "cpu", 100, runs)
    assert mem == 1500  # 700 x 1.5, rounded up to 500 MB
    row = {"build_s": ASSUMED_BUILD_S, "epoch_s": 12.0, "eval_s": 1.2}
    assert minutes == runtime_minutes(row, 100) == 35  # ceil((60 + 100 x 13.2) x 1.5 / 60)
