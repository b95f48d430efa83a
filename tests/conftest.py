"""Shared fixtures: the synthetic ``tiny`` MMRec folder and small folder builders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
TINY = FIXTURES / "tiny"


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    """A private copy of the tiny MMRec folder (tests may corrupt it)."""
    dest = tmp_path / "tiny"
    shutil.copytree(TINY, dest)
    return dest


def write_mmrec(
    folder: Path,
    rows: list[tuple],
    features: dict[str, np.ndarray] | None = None,
    name: str | None = None,
) -> Path:
    """Write an MMRec folder from (user, item, x_label) rows and optional feature arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows, columns=["userID", "itemID", "x_label"])
    df.insert(2, "rating", 5)
    df.insert(3, "timestamp", range(len(df)))
    df.to_csv(folder / f"{name or folder.name}.inter", sep="\t", index=False)
    for modality, arr in (features or {}).items():
        np.save(folder / f"{modality}_feat.npy", arr)
    return folder


RUN_FIELDS = ("dataset", "backbone", "plugin", "variant", "seed")


def write_metrics(
    root: Path, key: tuple, valid: dict, test: dict, best_epoch: int = 3, epochs_run: int = 5
) -> Path:
    """A run's ``metrics.json`` under ``root/<dataset>/<backbone>/<plugin>/<variant>/seed<seed>``
    for ``key`` = (dataset, backbone, plugin, variant, seed); returns the run folder."""
    import json

    folder = root.joinpath(*map(str, key[:4]), f"seed{key[4]}")
    folder.mkdir(parents=True, exist_ok=True)
    blob = {
        "schema": 1,
        "identity": dict(zip(RUN_FIELDS, key, strict=True)),
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        "cost": {"seconds_per_epoch": 0.5, "peak_memory_mb": 100.0},
        "valid": valid,
        "test": test,
    }
    (folder / "metrics.json").write_text(json.dumps(blob))
    return folder


class Killed(Exception):
    """Raised by :func:`kill_after_checkpoints` to simulate a job killed mid-training."""


def kill_after_checkpoints(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Make the trainer raise :class:`Killed` right after writing its n-th checkpoint."""
    from crossrec.train import Trainer

    original = Trainer._save_checkpoint
    calls = {"n": 0}

    def save_then_die(self: Trainer) -> None:
        original(self)
        calls["n"] += 1
        if calls["n"] == n:
            raise Killed

    monkeypatch.setattr(Trainer, "_save_checkpoint", save_then_die)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``gpu`` when CUDA is not available."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """The checkout's workflow on ``workdir/config.yaml`` (cwd and --directory ``workdir``),
    snakemake taken from beside the test interpreter."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    snakemake = shutil.which("snakemake", path=env["PATH"])
    root = Path(__file__).resolve().parents[1]
    cmd = [snakemake, "--snakefile", str(root / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)
