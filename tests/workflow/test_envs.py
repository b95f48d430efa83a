"""The conda environment of the rules lists the same packages as pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_conda_env_matches_pyproject() -> None:
    """The rules' environment: the core, the workflow, data and faiss extras, and torch as the
    set-up pins it (constraints.txt) — never an unpinned torch (it would pull a CUDA build)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "envs" / "crossrec.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = [line.strip() for line in (ROOT / "constraints.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]  # fmt: skip
    extras = project["optional-dependencies"]
    core = [d for d in project["dependencies"] if not d.startswith("torch")]
    wanted = [*core, *extras["workflow"], *extras["data"], *extras["faiss"], *pins]
    strip = [d.split("#")[0].strip() for d in wanted]
    assert sorted(pip) == sorted(strip)
    assert "torch==2.13.0" in pins and "torch==2.13.0" in pip
