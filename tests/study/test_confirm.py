"""A confirmed winner (stages.<stage>.confirm): the best m finalists re-run over s more seeds
(after the largest seed the study uses), the stage selecting the best seed mean — exactly m × s
extra runs, trained through Snakemake and counted by the estimate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import run_snakemake

from crossrec.costs import CostTable, estimate
from crossrec.run import read_metrics
from crossrec.study import open_study
from crossrec.study.files import Confirm, Selection
from crossrec.workflow_config import checked

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "tiny"

CONFIRMED = """
datasets:
  tiny: {source: folder, path: PLACEHOLDER}
backbones:
  lightgcn: {n_layers: [1, 2, 3]}
plugins:
  none: {}
stages: {tune: {confirm: {top: 2, seeds: 1}}, align: {}}
seeds: [1, 2]
train: {epochs: 2, batch_size: 64, topk: [5, 10, 20], device: cpu}
tables: {k: [5, 10]}
"""


def _config() -> dict:
    return checked(yaml.safe_load(CONFIRMED.replace("PLACEHOLDER", str(TINY))))


def test_the_estimate_counts_m_times_s_confirmation_runs() -> None:
    est = estimate(_config(), CostTable.load("cpu"))
    assert est["stages"]["confirm"]["runs"] == 2 * 1
    without = _config()
    without["stages"] = {"tune": {}, "align": {}}
    plain = estimate(without, CostTable.load("cpu"))
    assert est["total"]["jobs"] - plain["total"]["jobs"] == 2 * 1
    assert open_study(_config()).confirmation["tune"].seeds == (3,)  # after seeds [1, 2]


@pytest.mark.workflow
def test_a_confirmed_tune_stage_through_the_workflow(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIRMED.replace("PLACEHOLDER", str(TINY)))
    done = run_snakemake(tmp_path, "--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    runs = tmp_path / "results" / "runs" / "tiny" / "lightgcn" / "none"
    trained = sorted(str(p.parent.relative_to(runs)) for p in runs.rglob("metrics.json"))
    confirm = Confirm.read(tmp_path / "results" / "selections" / "tiny" / "lightgcn" /
                           "tune.confirm.yaml")  # fmt: skip
    assert len(confirm.top) == 2 and confirm.seeds == [3]
    sel = Selection.read(tmp_path / "results" / "selections" / "tiny" / "lightgcn" / "tune.yaml")
    # 3 candidates (seed 1) + 2 x 1 confirmation runs (seed 3) + the winner's seed-2 replicate
    assert len(trained) == 3 + 2 + 1
    assert sorted(t for t in trained if t.endswith("seed3")) == sorted(
        f"{v}/seed3" for v in confirm.top
    )

    def valid(variant: str, seed: int) -> float:
        return read_metrics(runs / variant / f"seed{seed}" / "metrics.json")["valid"]["recall@20"]

    means = {v: (valid(v, 1) + valid(v, 3)) / 2 for v in confirm.top}
    best = max(sorted(confirm.top), key=lambda v: means[v])  # ties: the first in grid order
    assert sel.variant == best and sel.score == pytest.approx(means[best])
    assert "nothing to be done" in run_snakemake(tmp_path, "-n").stdout.lower()
