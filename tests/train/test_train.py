"""The trainer: outputs, determinism, early stopping, resume."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import Killed, kill_after_checkpoints

from crossrec.data.formats import load_mmrec
from crossrec.run import RunSpec, TrainConfig
from crossrec.train import Trainer


def _run(tiny_dir: Path, out: Path, **train) -> dict:
    cfg = TrainConfig(**{"epochs": 6, "batch_size": 64, "topk": (5, 10, 20), **train})
    run = RunSpec(dataset="tiny", backbone="lightgcn", seed=3, train=cfg)
    return Trainer(run, load_mmrec(tiny_dir), out, log=lambda line: None).fit(progress=False)


def test_outputs_follow_the_schema(tiny_dir: Path, tmp_path: Path) -> None:
    m = _run(tiny_dir, tmp_path / "run")
    assert m["identity"] == {
        "dataset": "tiny",
        "backbone": "lightgcn",
        "plugin": "none",
        "variant": "default",
        "seed": 3,
    }
    assert set(m["test"]) == {
        f"{x}@{k}" for x in ("recall", "ndcg", "precision", "map") for k in (5, 10, 20)
    }
    assert 1 <= m["best_epoch"] <= m["epochs_run"] == 6
    assert m["cost"]["seconds_per_epoch"] > 0 and m["cost"]["peak_memory_mb"] > 0
    # train.device auto: the GPU where there is one (device-agnostic: CPU CI and CUDA machines)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert m["provenance"]["device"].split(":")[0] == expected
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == m
    rows = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 7))
    assert {"bpr", "reg", "loss", "valid_recall@20", "train_seconds"} <= set(rows[0])
    best = rows[m["best_epoch"] - 1]
    assert float(best["valid_recall@20"]) == m["valid"]["recall@20"]
    assert max(float(r["valid_recall@20"]) for r in rows) == m["valid"]["recall@20"]
    assert yaml.safe_load((tmp_path / "run" / "run.yaml").read_text())["backbone"] == "lightgcn"
    assert not (tmp_path / "run" / "config.yaml").exists()
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_deterministic(tiny_dir: Path, tmp_path: Path) -> None:
    a = _run(tiny_dir, tmp_path / "a")
    b = _run(tiny_dir, tmp_path / "b")
    assert a["test"] == b["test"] and a["valid"] == b["valid"]
    ha = (tmp_path / "a" / "history.csv").read_text().splitlines()
    hb = (tmp_path / "b" / "history.csv").read_text().splitlines()
    # identical apart from the timing columns (the last three: seconds, seconds, improved)
    assert [x.split(",")[:-3] for x in ha] == [x.split(",")[:-3] for x in hb]


def test_early_stopping_counts_like_mmrec(tiny_dir: Path, tmp_path: Path) -> None:
    m = _run(tiny_dir, tmp_path / "run", epochs=200, patience=2, lr=0.05)
    assert m["stopped_early"]
    # stop once 3 (= patience + 1) evaluations in a row failed to improve strictly
    assert m["epochs_run"] == m["best_epoch"] + 3


def test_resume_reaches_the_same_result(tiny_dir: Path, tmp_path: Path, monkeypatch) -> None:
    straight = _run(tiny_dir, tmp_path / "straight", epochs=8)
    out = tmp_path / "killed"
    with monkeypatch.context() as patch:
        kill_after_checkpoints(patch, 3)
        with pytest.raises(Killed):
            _run(tiny_dir, out, epochs=8)
    assert (out / "checkpoint.pt").exists() and not (out / "metrics.json").exists()
    cfg = TrainConfig(epochs=8, batch_size=64, topk=(5, 10, 20))
    run = RunSpec(dataset="tiny", backbone="lightgcn", seed=3, train=cfg)
    lines: list[str] = []
    resumed = Trainer(run, load_mmrec(tiny_dir), out, log=lines.append).fit(
        resume=True, progress=False
    )
    assert any("resumed" in line and "after epoch 3" in line for line in lines)
    assert resumed["test"] == straight["test"] and resumed["best_epoch"] == straight["best_epoch"]
    assert len((out / "history.csv").read_text().splitlines()) == 9


def test_checkpoint_of_another_config_is_ignored(tiny_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    import torch

    torch.save({"format": 2, "config_hash": "other"}, out / "checkpoint.pt")
    lines: list[str] = []
    run = RunSpec(dataset="tiny", backbone="bpr", train=TrainConfig(epochs=2, topk=(5, 10, 20)))
    Trainer(run, load_mmrec(tiny_dir), out, log=lines.append).fit(resume=True, progress=False)
    assert any("another configuration" in line for line in lines)


def test_valid_metric_must_be_computed() -> None:
    from crossrec.errors import ConfigError

    with pytest.raises(ConfigError, match="valid_metric 'recall@20' is not computed"):
        TrainConfig(topk=(5, 10))


@pytest.mark.gpu
def test_cuda_training_matches_protocol(tiny_dir: Path, tmp_path: Path) -> None:
    m = _run(tiny_dir, tmp_path / "cuda", device="cuda")
    assert m["provenance"]["device"].startswith("cuda")
    again = _run(tiny_dir, tmp_path / "cuda2", device="cuda")
    assert m["test"] == again["test"]


@pytest.mark.slow  # over 10 s: left out of the quick subset
def test_two_threads_are_bit_identical(tmp_path: Path) -> None:
    """Same config + seed + thread count → bit-identical history and metrics, at 2 threads
    (batches of 2,048 rows are large enough for torch to split the gather backward)."""
    import subprocess
    import sys

    import numpy as np
    import pandas as pd
    from conftest import write_mmrec

    from crossrec.data.sources.folder import prepare_folder

    rng = np.random.default_rng(0)
    n_users, n_items = 300, 200
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items, size=20, replace=False)
        rows += [(u, int(i), 0) for i in items[:16]]
        rows += [(u, int(items[16]), 1), (u, int(items[17]), 2)]
    raw = write_mmrec(tmp_path / "synth", rows, {"image": rng.normal(size=(n_items, 8))})
    folder = tmp_path / "prepared"
    prepare_folder(raw, folder, "synth", neighbor_ks=[3])
    outs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        cmd = [sys.executable, "-m", "crossrec", "train", "--data", str(folder), "--backbone",
               "lightgcn", "--plugin", "cross", "--plugin-param", "cla_prototypes=16",
               "--train", "epochs=3", "--train", "topk=[10, 20]", "--threads", "2",
               "--seed", "3", "--out", str(out)]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        history = pd.read_csv(out / "history.csv")
        outs.append(history.drop(columns=[c for c in history if c.endswith("seconds")]))
    pd.testing.assert_frame_equal(outs[0], outs[1], check_exact=True)
