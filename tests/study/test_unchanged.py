"""What a restructuring must leave as it was, against values recorded from the released code:
every run's code digest (so no user's study retrains) and the bytes of the plan and the run
files the shipped configs plan. A change that alters them on purpose records them anew and
says in CHANGELOG which runs it retrains."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from crossrec.align import PLUGINS
from crossrec.cli import main
from crossrec.models import BACKBONES
from crossrec.provenance import run_code_digest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def test_every_runs_code_digest_is_the_recorded_one() -> None:
    recorded = json.loads((FIXTURES / "code_digests.json").read_text())
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if here != recorded["python"]:  # ast.dump, hence every digest, differs between versions
        pytest.skip(f"digests recorded on Python {recorded['python']}, this is {here}")
    now = {
        f"{b}/{p}": run_code_digest(BACKBONES[b].__module__, PLUGINS[p].__module__)
        for b in BACKBONES
        for p in PLUGINS
    }
    assert set(recorded["digests"]) <= set(now)  # every recorded backbone and plug-in is there
    changed = sorted(k for k, v in recorded["digests"].items() if now[k] != v)
    assert not changed, f"{len(changed)} runs' code changed, e.g. {changed[:3]}"


def _run_files_digest(runs: Path) -> tuple[str, int]:
    h, files = hashlib.sha256(), sorted(runs.rglob("run.yaml"))
    for path in files:
        h.update(path.relative_to(runs).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest(), len(files)


@pytest.mark.parametrize("name", ["config", "ml100k_tuning", "paper_lite"])
def test_shipped_configs_plan_the_recorded_bytes(tmp_path: Path, name: str) -> None:
    recorded = json.loads((FIXTURES / "plan_digests.json").read_text())[name]
    plan, runs = tmp_path / "plan.json", tmp_path / "runs"
    config = ROOT / "config" / f"{name}.yaml"
    assert main(["plan", "--config", str(config), "--out", str(plan), "--runs", str(runs)]) == 0
    assert hashlib.sha256(plan.read_bytes()).hexdigest() == recorded["plan.json"]
    assert _run_files_digest(runs) == (recorded["run.yaml"], recorded["runs"])
