"""The on-demand benchmarks run end to end (tiny inputs; their numbers are not checked here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from crossrec.data.sources.folder import prepare_folder

ROOT = Path(__file__).resolve().parents[1]


def test_bench_align_reports_steps_and_profiler_counts(tmp_path: Path) -> None:
    data = tmp_path / "tiny"
    prepare_folder(ROOT / "tests" / "fixtures" / "tiny", data, "tiny", neighbor_ks=[3])
    out = tmp_path / "align.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_align.py"), "--data", str(data),
           "--rows", "none", "cross", "--prototypes", "16", "--steps", "1",
           "--profile-steps", "1", "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["cla_prototypes"] == 16 and report["device"] == "cpu"
    for name in ("none", "cross"):
        row = report["rows"][name]
        assert row["seconds_per_step"] > 0
        assert {"host_syncs", "_local_scalar_dense", "nonzero", "aten_calls"} <= set(
            row["per_step"]
        )
        assert row["per_step"]["aten_calls"] > 0
    cross = report["rows"]["cross"]["per_step"]
    # the step's syncs are attributed to the trainer's regions; the plug-in makes none
    regions = ("backbone", "plugin", "backward", "optimizer", "other")
    assert sum(cross[f"host_syncs_{r}"] for r in regions) == cross["host_syncs"]
    assert cross["host_syncs_plugin"] == 0 and cross["aten_calls_plugin"] > 0
    assert report["rows"]["none"]["per_step"]["aten_calls_plugin"] == 0


@pytest.mark.slow  # over 10 s: left out of the quick subset
def test_gpu_check_quick_mode_measures_every_section(tmp_path: Path) -> None:
    """benchmarks/gpu_check.py --device cpu --quick: the script the next GPU window runs, in its
    CPU smoke mode, so it cannot rot — every section measured, the cost table readable by the
    estimate."""
    from crossrec.costs import CostTable, estimate
    from crossrec.workflow_config import checked

    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu",
           "--quick", "--budget-s", "400", "--out-dir", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check_cpu.json").read_text())
    assert "error" not in report and report["budget_left_s"] > 0
    eager = report["plugins"]["eager"]
    assert set(eager) == {"none", "cross"}
    for row in eager.values():
        assert row["seconds_per_step"] > 0 and row["per_step"]["aten_calls"] > 0
        for sync in row["syncs"]:  # every host sync with the Python stack that made it
            assert sync["op"].startswith("aten::") and sync["per_step"] > 0 and sync["stack"]
    assert report["costs"]["measured"] == 2 and report["costs"]["unmeasured"] == []
    table = CostTable.load("cpu", report["costs"]["table"])
    assert len(table.rows) == 2 and not table.partial
    config = checked({
        "datasets": {"ml100k": {"source": "ml100k"}},
        "backbones": {"bpr": {}, "lightgcn": {}},
        "plugins": {"none": {}},
        "seeds": [1],
    })  # fmt: skip
    est = estimate(config, table)
    assert est["total"]["unmeasured"] == 0 and est["total"]["hours"] is not None
    assert [r["runs"] for r in report["packing"]["results"]] == [1, 2]
