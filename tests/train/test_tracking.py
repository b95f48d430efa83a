"""What a run tells the people watching it: timestamped epoch lines with k/N, the best epoch,
patience and the time left to early stopping (or JSON lines), and optional experiment tracking —
TensorBoard event files and an MLflow store read back with those libraries' own readers —
which never changes a result."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from crossrec.epochs import EpochEvent, epoch_line

BASE = ["train", "--backbone", "lightgcn", "--plugin", "fettle", "--plugin-param",
        "cla_prototypes=16", "--train", "epochs=4", "--train", "batch_size=64", "--train",
        "topk=[5, 10, 20]", "--train", "patience=2", "--seed", "3", "--threads", "1"]  # fmt: skip


def _train(tiny_dir: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "crossrec", *BASE, "--data", str(tiny_dir), "--out", str(out)]
    proc = subprocess.run([*cmd, *extra], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _event(epoch: int, bad: int, elapsed: float = 20.0) -> EpochEvent:
    values = {"loss": 0.5, "train_seconds": 1.5, "eval_seconds": 0.5}
    return EpochEvent(epoch, 100, values, "recall@20", 0.3, bad == 0, 0.31, epoch - bad, bad,
                      5, elapsed)  # fmt: skip


def test_the_time_left_is_bounded_by_patience_and_the_cap() -> None:
    # 10 epochs in 20 s: 2 s an epoch; 2 of 5 tolerated evaluations without a new best used
    event = _event(10, 2)
    assert event.epochs_left() == (4, 90) and event.seconds_left() == (8.0, 180.0)
    assert _event(98, 0).epochs_left() == (2, 2)  # the cap comes first
    line = epoch_line(event)
    assert line.startswith("epoch 10/100 loss 0.50000 valid recall@20 0.3000 best 0.3100 @8 ")
    assert "patience 2/5" in line and "left ≤ 0:00:08 to early stop (0:03:00 to the cap)" in line


def test_epoch_lines_carry_time_k_of_n_and_patience(tiny_dir: Path, tmp_path: Path) -> None:
    err = _train(tiny_dir, tmp_path / "plain").stderr
    lines = [ln for ln in err.splitlines() if " crossrec.train: epoch " in ln]
    assert len(lines) == 4
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO crossrec\.train: "
    for k, line in enumerate(lines, start=1):
        assert re.match(rf"{stamp}epoch {k}/4 loss \d\.\d{{5}} valid recall@20 ", line), line
        assert re.search(
            r" patience \d/2 .* elapsed \d:\d\d:\d\d, left ≤ \d:\d\d:\d\d to early", line
        )
    blob = _train(tiny_dir, tmp_path / "json", "--log-json").stderr
    records = [json.loads(ln) for ln in blob.splitlines() if ln.startswith("{")]
    epochs = [r for r in records if r["message"].startswith("epoch ")]
    assert len(epochs) == 4 and {r["logger"] for r in epochs} == {"crossrec.train"}
    assert all(r["level"] == "INFO" and re.match(r"\d{4}-\d\d-\d\dT", r["time"]) for r in epochs)


def _history(run: Path) -> list[dict[str, str]]:
    with (run / "history.csv").open() as fh:
        return list(csv.DictReader(fh))


def _results(run: Path) -> dict:
    blob = json.loads((run / "metrics.json").read_text())
    rows = [{k: v for k, v in r.items() if not k.endswith("_seconds")} for r in _history(run)]
    return {"valid": blob["valid"], "test": blob["test"], "best": blob["best_epoch"], "h": rows}


@pytest.mark.slow  # over 10 s: left out of the quick subset
def test_tracked_runs_are_read_back_and_change_no_result(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tensorboard", reason="the [tracking] extra (make test installs it)")
    pytest.importorskip("mlflow", reason="the [tracking] extra (make test installs it)")
    from mlflow import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    plain, tracked = tmp_path / "plain", tmp_path / "tracked"
    _train(tiny_dir, plain)
    where = tmp_path / "tracking"
    _train(tiny_dir, tracked, "--track", "tensorboard", "--track", "mlflow",
           "--track-dir", str(where))  # fmt: skip
    assert _results(plain) == _results(tracked)  # bit-identical metrics and history
    assert (plain / "test_per_user.csv").read_bytes() == (
        tracked / "test_per_user.csv"
    ).read_bytes()
    history = _history(tracked)
    metrics = json.loads((tracked / "metrics.json").read_text())

    (folder,) = (where / "tensorboard").iterdir()
    assert folder.name == "tiny.lightgcn.fettle.default.seed3"
    acc = EventAccumulator(str(folder))
    acc.Reload()
    valid = acc.Scalars("valid/recall@20")
    assert [e.step for e in valid] == [1, 2, 3, 4]
    assert [e.value for e in valid] == pytest.approx([float(r["valid_recall@20"]) for r in history])
    loss = [e.value for e in acc.Scalars("train/loss")]
    assert loss == pytest.approx([float(r["loss"]) for r in history], rel=1e-6)
    assert {"train/cla", "seconds/train"} <= set(acc.Tags()["scalars"])  # every loss term, time
    (test,) = acc.Scalars("test/recall@20")
    assert test.value == pytest.approx(metrics["test"]["recall@20"])
    assert test.step == metrics["best_epoch"]

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3's file store, read back
    client = MlflowClient(tracking_uri=(where / "mlflow").resolve().as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("crossrec").experiment_id])
    assert run.info.run_name == "tiny/lightgcn/fettle/default/seed3"
    assert run.info.status == "FINISHED"
    assert run.data.params["backbone"] == "lightgcn" and run.data.params["train.patience"] == "2"
    assert run.data.tags["crossrec.run_folder"] == str(tracked.resolve())
    steps = client.get_metric_history(run.info.run_id, "valid/recall_at_20")
    steps = sorted((m.step, m.value) for m in steps)
    assert [step for step, _ in steps] == [1, 2, 3, 4]
    assert [v for _, v in steps] == pytest.approx([float(r["valid_recall@20"]) for r in history])
    assert run.data.metrics["test/recall_at_20"] == pytest.approx(metrics["test"]["recall@20"])


def test_the_summary_follows_the_computed_cut_offs(tiny_dir: Path, tmp_path: Path) -> None:
    """`train.topk` without 20 trains and says its result (the summary line once hard-coded
    recall@20 and failed after training)."""
    cmd = [sys.executable, "-m", "crossrec", "train", "--data", str(tiny_dir), "--backbone",
           "bpr", "--train", "topk=[5, 10]", "--train", "valid_metric=recall@10", "--train",
           "epochs=2", "--out", str(tmp_path / "r")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(
        r"best epoch \d, test recall@10 \d\.\d{4} ndcg@10 \d\.\d{4}$", proc.stdout.strip()
    )


def test_one_warning_when_the_cost_table_predicts_over_an_hour(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At the start of `crossrec train`: the shipped CPU table's FREEDOM + CROSS on Baby at the
    1,000-epoch cap is many hours — one warning; 2 epochs of it — none."""
    from crossrec.cli.train import warn_if_long
    from crossrec.run import RunSpec, TrainConfig

    long = RunSpec("baby", "freedom", "cross", train=TrainConfig(epochs=1000, device="cpu"))
    with caplog.at_level("WARNING", logger="crossrec.train"):
        warn_if_long(long, "baby")
        warn_if_long(RunSpec("baby", "freedom", "cross", train=TrainConfig(epochs=2)), "baby")
    (record,) = caplog.records
    assert "the cost table predicts up to" in record.message and "1000 epochs" in record.message
