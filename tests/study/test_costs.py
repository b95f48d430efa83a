"""Cost estimates from a measured table (crossrec.costs, `crossrec estimate`)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crossrec.costs import CostTable, estimate, memory_mb, run_seconds, runtime_minutes
from crossrec.errors import ConfigError

CONFIG = {
    "datasets": {"Baby": {"source": "amazon"}, "other": {"source": "amazon"}},
    "backbones": {"lightgcn": {}, "freedom": {}},
    "plugins": {
        "none": {},
        "cross": {"alpha": [0.1, 0.01], "beta": [0.1]},
    },
    "ablation": {
        "backbones": ["freedom"],
        "presets": ["cross", "cross_no_cna"],
        "plugin_params": {"alpha": 1.0e-3, "beta": 1.0e-4},
    },
    "seeds": [1, 2],
    "train": {"epochs": 50},
}


def _row(backbone: str, plugin: str, epoch_s: float) -> dict:
    return {"shape": "baby", "backbone": backbone, "plugin": plugin, "build_s": 10.0,
            "epoch_s": epoch_s, "eval_s": 2.0, "peak_mb": 1000.0}  # fmt: skip


@pytest.fixture
def table(tmp_path: Path) -> Path:
    rows = [_row("lightgcn", "none", 1.0), _row("lightgcn", "cross", 4.0),
            _row("freedom", "none", 2.0), _row("freedom", "cross", 8.0)]  # fmt: skip
    path = tmp_path / "cpu.json"
    path.write_text(json.dumps({"device": "cpu", "machine": {"date": "x"}, "rows": rows}))
    return path


def test_estimate_sums_measured_rows_per_dataset_study_and_grid(table: Path) -> None:
    est = estimate(CONFIG, CostTable.load("cpu", table), epochs=20)
    assert est["epochs"] == 20
    # main: 2 backbones x (none + 2 grid points) x 2 seeds per dataset; ablation: freedom x 2
    # presets x 2 seeds, of which `cross` at the presets' values is not a main-study variant
    baby = est["datasets"]["Baby"]
    per = {b: (10 + 20 * (e + 2)) / 3600 for b, e in {"ln": 1, "lc": 4, "fn": 2, "fc": 8}.items()}
    main = 2 * (per["ln"] + 2 * per["lc"] + per["fn"] + 2 * per["fc"])
    ablation = 2 * 2 * per["fc"]  # cross_no_cna is costed as cross (its family)
    assert est["studies"]["main"]["jobs"] == 2 * 12
    assert est["studies"]["ablation"]["jobs"] == 2 * 4
    assert baby["jobs"] == 12 + 4 and baby["unmeasured"] == 0
    assert baby["hours"] == pytest.approx(main + ablation, abs=0.05)
    # a dataset no shape matches: counted, not guessed
    # never shown as 0 hours: None, and "unmeasured" in the text
    assert est["datasets"]["other"] == {"jobs": 16, "hours": None, "unmeasured": 16}
    assert est["total"]["unmeasured"] == 16 and est["total"]["jobs"] == 32
    # the grid: the runs whose variant sets alpha or beta (both datasets)
    assert est["grid"]["jobs"] == 2 * 2 * 2 * 2
    # epochs default to min(train.epochs, 100) and never exceed train.epochs
    assert estimate(CONFIG, CostTable.load("cpu", table))["epochs"] == 50
    assert estimate(CONFIG, CostTable.load("cpu", table), epochs=500)["epochs"] == 50


def test_job_limits_from_a_row() -> None:
    row = _row("freedom", "cross", 8.0)
    assert run_seconds(row, 100) == 10 + 100 * 10
    assert runtime_minutes(row, 100) == 26  # ceil(1010 s x 1.5 / 60)
    assert memory_mb(row, cuda=False) == 1500 and memory_mb(row, cuda=True) == 3500


def test_missing_table_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no measured cost table for device 'cuda'"):
        CostTable.load("cuda", tmp_path / "cuda.json")


def test_shipped_table_covers_every_paper_backbone_and_plugin() -> None:
    table = CostTable.load("cpu")
    paper = yaml.safe_load((Path(__file__).parents[2] / "config" / "paper.yaml").read_text())
    shapes = {shape for shape, _, _ in table.rows}
    assert {"baby", "sports", "clothing", "tiktok"} <= shapes
    for shape in shapes:
        for backbone in paper["backbones"]:
            for plugin in ("none", "bm3", "fettle", "cross"):
                row = table.row(shape, backbone, plugin)
                assert row is not None, (shape, backbone, plugin)
                assert row["epoch_s"] > 0 and row["peak_mb"] > 0


def test_cli_prints_the_estimate_without_writing_a_plan(tmp_path: Path, table: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    cmd = [sys.executable, "-m", "crossrec", "estimate", "--config", str(config),
           "--costs", str(table), "--epochs-to-stop", "20"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "every run trains 20 epochs" in proc.stdout
    assert "(+ 16 runs with no measured row)" in proc.stdout  # the total leaves them out
    other = next(line for line in proc.stdout.splitlines() if line.startswith("dataset other"))
    assert other.split()[-1] == "unmeasured" and "0.0" not in other
    assert "+-20 %" in proc.stdout and "take longer each" in proc.stdout
    assert "alpha x beta grid" in proc.stdout
    assert sorted(tmp_path.iterdir()) == sorted([config, table])  # no plan written
    missing = [*cmd[:-4], "--device", "cuda", "--costs", str(tmp_path / "cuda.json")]
    cuda = subprocess.run(missing, capture_output=True, text=True, cwd=tmp_path)
    assert cuda.returncode == 2 and cuda.stdout == ""
    assert len(cuda.stderr.strip().splitlines()) == 1 and "cuda.json" in cuda.stderr


def test_the_staged_paper_estimate_in_the_docs_is_the_estimate() -> None:
    """docs/cluster.md's table of config/paper.yaml (staged, halving) is what `crossrec plan
    --estimate --device cpu` computes from the shipped table: per stage and in total."""
    from crossrec.costs import estimate
    from crossrec.workflow_config import checked

    root = Path(__file__).parents[2]
    docs = (root / "docs" / "cluster.md").read_text()
    paper = checked(yaml.safe_load((root / "config" / "paper.yaml").read_text()))
    est = estimate(paper, CostTable.load("cpu"))
    assert f"**{est['total']['jobs']:,}**" in docs and f"**{est['total']['hours']:,.0f}**" in docs
    per_dataset = est["datasets"].values()
    assert " / ".join(f"{d['hours']:,.0f}" for d in per_dataset) in docs
    for entry in est["stages"].values():
        row = (f"| {entry['runs']:,} | {entry['epochs']:,} | {entry['hours']:,.0f} | "
               f"{entry['exhaustive_epochs']:,} | {entry['exhaustive_hours']:,.0f} |")  # fmt: skip
        assert row in docs, row


def test_the_readme_estimate_command_answers_with_the_partial_gpu_table(tmp_path: Path) -> None:
    """README's command as printed (cuda, the shipped partial table): exit 0, the table said
    to be partial, unmeasured lines said so, the shared runs explained."""
    import re

    root = Path(__file__).parents[2]
    line = next(
        ln for ln in (root / "README.md").read_text().splitlines() if "crossrec estimate" in ln
    )
    cmd = shlex.split(re.search(r"`(crossrec estimate[^`]*)`", line).group(1))
    hermetic = ["--runs", str(tmp_path / "runs")]  # never the checkout's own results/runs
    proc = subprocess.run([sys.executable, "-m", "crossrec", *cmd[1:], *hermetic],
                          capture_output=True, text=True, cwd=root, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "on cuda" in out and "PARTIAL table" in out
    # the GPU table measured Baby only: Sports' rows are predicted from it, and say so
    sports = next(ln for ln in out.splitlines() if ln.startswith("dataset sports"))
    assert float(sports.split()[3]) > 0 and "runs with no measured row" in sports
    assert "row sports/bpr/bm3 predicted: baby/bpr/bm3 scaled by size" in out
    baby = next(ln for ln in out.splitlines() if ln.startswith("dataset baby"))
    assert "runs with no measured row" in baby and float(baby.split()[3]) > 0
    assert "more jobs than the total" in out


def _edited(tmp_path: Path, edit: str) -> Path:
    """The shipped CPU table with one defect (issue 42's probe, item 9)."""
    blob = json.loads((Path(CostTable.load("cpu").source)).read_text())
    rows = blob["rows"]
    if edit == "duplicate":
        rows.append(dict(rows[0], epoch_s=999.0))
    elif edit == "huge_float":
        rows[0]["epoch_s"] = 1e308
    elif edit == "huge_int":
        rows[0]["peak_mb"] = 10**400
    elif edit == "machine":
        blob["machine"] = "x"
    elif edit == "device":
        blob["device"] = "cuda"
    elif edit == "empty_shape":
        rows[0]["shape"] = ""
    elif edit == "partial":
        blob["partial"] = "yes"
    path = tmp_path / "costs.json"
    path.write_text(json.dumps(blob))
    return path


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        ("duplicate", "repeats rows[0] (clothing/bpr/none)"),
        ("huge_float", "rows[0].epoch_s: 1e+308 is not in 0 to 1e+09"),
        ("huge_int", "rows[0].peak_mb: 'a huge int' is not in 0 to 1e+09"),
        ("machine", "machine: expected a mapping"),
        ("device", "device 'cuda': a table of another device than --device cpu"),
        ("empty_shape", "rows[0].shape: missing or not a name"),
        ("partial", "partial: 'yes' is not true or false"),
    ],
)
def test_a_bad_cost_table_is_one_line(tmp_path: Path, edit: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        CostTable.load("cpu", _edited(tmp_path, edit))


def test_a_cost_table_that_is_not_a_file_is_named(tmp_path: Path) -> None:
    for path in (tmp_path, Path("/dev/zero")):
        with pytest.raises(ConfigError, match="not a regular file"):
            CostTable.load("cpu", path)
