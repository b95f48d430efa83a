"""Checkpoints that fit a cluster file system: written on a wall-time interval, when a run pauses
(a successive-halving rung's end) and on SIGTERM; a paused or stopped run resumes to exactly the
history and per-user metrics of a run never paused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from crossrec.data.formats import load_mmrec
from crossrec.run import RunSpec, TrainConfig
from crossrec.train import Trainer

TIMINGS = ["train_seconds", "eval_seconds"]


def _spec(epochs: int = 6) -> RunSpec:
    train = TrainConfig(epochs=epochs, patience=100, batch_size=64, topk=(5, 10, 20))
    return RunSpec(dataset="tiny", backbone="lightgcn", seed=4, train=train)


def _same_run(a: Path, b: Path) -> None:
    """Histories (timings aside) and per-user test metrics of two run folders are identical."""
    ha = pd.read_csv(a / "history.csv").drop(columns=TIMINGS)
    hb = pd.read_csv(b / "history.csv").drop(columns=TIMINGS)
    pd.testing.assert_frame_equal(ha, hb, check_exact=True)
    assert (a / "test_per_user.csv").read_bytes() == (b / "test_per_user.csv").read_bytes()


def test_a_paused_run_resumes_bit_identically(tiny_dir: Path, tmp_path: Path) -> None:
    data = load_mmrec(tiny_dir)
    Trainer(_spec(), data, tmp_path / "straight", log=lambda s: None).fit(progress=False)
    out = tmp_path / "paused"
    paused = Trainer(_spec(), data, out, log=lambda s: None).fit(progress=False, pause_at=2)
    assert paused is None and (out / "checkpoint.pt").is_file()
    assert not (out / "metrics.json").exists()
    again = Trainer(_spec(), data, out, log=lambda s: None).fit(
        resume=True, progress=False, pause_at=4
    )
    assert again is None  # a second rung
    done = Trainer(_spec(), data, out, log=lambda s: None).fit(resume=True, progress=False)
    assert done is not None and done["epochs_run"] == 6 and not (out / "checkpoint.pt").exists()
    _same_run(tmp_path / "straight", out)


def test_a_run_that_finishes_before_its_pause_is_finished(tiny_dir: Path, tmp_path: Path) -> None:
    done = Trainer(_spec(epochs=2), load_mmrec(tiny_dir), tmp_path / "r", log=lambda s: None).fit(
        progress=False, pause_at=5
    )
    assert done is not None and (tmp_path / "r" / "metrics.json").is_file()


def test_checkpoints_follow_the_wall_time_interval(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a 10-minute interval and epochs of 4 minutes (a fake clock), a checkpoint is written
    after epochs 3 and 6 of 8 — not after every epoch, and not after the last."""
    clock = {"now": 0.0}
    saved: list[int] = []
    original_epoch = Trainer._train_and_evaluate_epoch
    original_save = Trainer._save_checkpoint

    def epoch(self: Trainer, bar: object) -> None:
        original_epoch(self, bar)
        clock["now"] += 240.0

    def save(self: Trainer) -> None:
        saved.append(self.state.epoch)
        original_save(self)

    monkeypatch.setattr("crossrec.train.time.monotonic", lambda: clock["now"])
    monkeypatch.setattr(Trainer, "_train_and_evaluate_epoch", epoch)
    monkeypatch.setattr(Trainer, "_save_checkpoint", save)
    trainer = Trainer(
        _spec(8), load_mmrec(tiny_dir), tmp_path / "r", log=lambda s: None, checkpoint_seconds=600
    )
    trainer.fit(progress=False)  # fmt: skip
    assert saved == [3, 6]


@pytest.mark.slow  # over 10 s: left out of the quick subset
def test_sigterm_leaves_a_checkpoint_that_resumes_bit_identically(
    tiny_dir: Path, tmp_path: Path
) -> None:
    """`crossrec train` gets SIGTERM mid-training (as SLURM sends before the time limit): it
    finishes the epoch, writes its checkpoint although its 10-minute interval has not passed,
    exits 75 with one line; the same command with --resume ends as a run never stopped."""
    base = [sys.executable, "-m", "crossrec", "train", "--data", str(tiny_dir), "--backbone",
            "lightgcn", "--train", "epochs=300", "--train", "patience=1000", "--train",
            "batch_size=64", "--train", "topk=[5, 10, 20]", "--seed", "4", "--threads", "1"]  # fmt: skip
    out = tmp_path / "stopped"
    proc = subprocess.Popen(
        [*base, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    log = []
    deadline = time.monotonic() + 120
    for line in proc.stderr:  # one timestamped line per epoch
        log.append(line)
        if " crossrec.train: epoch " in line or time.monotonic() > deadline:
            break
    assert any(" crossrec.train: epoch " in line for line in log), "".join(log)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err[-2000:]
    assert "stopped by SIGTERM" in err and err.strip().splitlines()[-1].startswith(
        "crossrec: error"
    )
    assert (out / "checkpoint.pt").is_file() and not (out / "metrics.json").exists()
    stopped_after = len(pd.read_csv(out / "history.csv")) if (out / "history.csv").exists() else 0
    assert stopped_after == 0  # the history is written at the end; the state is in the checkpoint
    resumed = subprocess.run([*base, "--resume", "--out", str(out)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr
    straight = subprocess.run(
        [*base, "--out", str(tmp_path / "straight")], capture_output=True, text=True
    )
    assert straight.returncode == 0, straight.stderr[-2000:]
    _same_run(tmp_path / "straight", out)


@pytest.mark.slow  # over 10 s: left out of the quick subset
def test_a_killed_rung_resumes_and_the_run_ends_as_never_paused(
    tiny_dir: Path, tmp_path: Path
) -> None:
    """A successive-halving rung job (`--pause-at-epoch N --progress FILE`) stopped by SIGTERM
    runs again with the same command to its budget; the finalist's training then continues from
    the rung's checkpoint to the history of a run never paused."""
    base = [sys.executable, "-m", "crossrec", "train", "--data", str(tiny_dir), "--backbone",
            "lightgcn", "--train", "epochs=300", "--train", "patience=1000", "--train",
            "batch_size=64", "--train", "topk=[5, 10, 20]", "--seed", "4", "--threads", "1"]  # fmt: skip
    out, progress = tmp_path / "rung", tmp_path / "rung" / "rung0.json"
    rung = [*base, "--pause-at-epoch", "200", "--progress", str(progress), "--resume"]
    proc = subprocess.Popen([*rung, "--out", str(out)], stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if " crossrec.train: epoch " in line:
            break
    os.kill(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 75 and not progress.exists()
    again = subprocess.run([*rung, "--out", str(out)], capture_output=True, text=True)
    assert again.returncode == 0 and "resumed from" in again.stderr, again.stderr[-2000:]
    blob = json.loads(progress.read_text())
    assert blob["epochs_run"] == 200 and not blob["finished"] and blob["best_value"] > 0
    final = subprocess.run([*base, "--resume", "--out", str(out)], capture_output=True, text=True)
    assert final.returncode == 0, final.stderr[-2000:]
    straight = subprocess.run(
        [*base, "--out", str(tmp_path / "straight")], capture_output=True, text=True
    )
    assert straight.returncode == 0
    _same_run(tmp_path / "straight", out)
