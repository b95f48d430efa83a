"""Backbones and plug-ins from another installed package, through entry points
(docs/extending.md): found by name, trained, listed, and broken ones reported in one line."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from crossrec.align import PLUGINS
from crossrec.data.sources import SOURCES
from crossrec.errors import ConfigError
from crossrec.models import BACKBONES
from crossrec.provenance import run_code_digest

ROOT = Path(__file__).resolve().parents[2]

MODELS = '''
"""A third-party package: a BPR variant and a plug-in, registered only by entry points."""
from dataclasses import dataclass

import torch

from crossrec.align.base import Plugin
from crossrec.strict import NonNegFloat
from crossrec.models.bpr import BPR, BPRParams


@dataclass(frozen=True)
class ScaledParams(BPRParams):
    scale: NonNegFloat = 2.0


class ScaledBPR(BPR):
    Params = ScaledParams

    def rec_loss(self, enc, batch):
        terms = super().rec_loss(enc, batch)
        return {"bpr": self.params.scale * terms["bpr"], "reg": terms["reg"]}


@dataclass(frozen=True)
class NormParams:
    weight: NonNegFloat = 1e-3


class NormPlugin(Plugin):
    Params = NormParams

    def loss(self, enc, batch):
        return {"norm": self.params.weight * enc.item[batch.pos].pow(2).sum(1).mean()}


from crossrec.data.sources import Source  # noqa: E402


@dataclass(frozen=True)
class CopyParams:
    folder: str


class CopySource(Source):
    Params = CopyParams
    description = "a folder copied as it is"

    def download(self, dataset, out, params):
        from crossrec.data.sources.folder import copy_mmrec_folder

        copy_mmrec_folder(params.folder, out)

    def prepare(self, raw, out, dataset, params, needs):
        from crossrec.data.sources.folder import prepare_folder

        ks, knn = sorted(needs.neighbors_k), sorted(needs.item_knn_k)
        return prepare_folder(raw, out, dataset, ks, knn, user_graph=needs.user_graph)
'''


def _package(root: Path, entry_points: str) -> Path:
    """``thirdparty`` with a dist-info declaring ``entry_points`` under ``root``."""
    (root / "thirdparty").mkdir(parents=True)
    (root / "thirdparty" / "__init__.py").write_text(MODELS)
    info = root / "thirdparty-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    return root


GOOD = """
[crossrec.backbones]
scaledbpr = thirdparty:ScaledBPR

[crossrec.plugins]
norm = thirdparty:NormPlugin

[crossrec.sources]
copied = thirdparty:CopySource
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = _package(tmp_path / "site", GOOD)
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    yield root
    for registry, name in ((BACKBONES, "scaledbpr"), (PLUGINS, "norm"), (SOURCES, "copied")):
        registry._classes.pop(name, None)
        registry._origin.pop(name, None)
    sys.modules.pop("thirdparty", None)


def test_entry_points_join_the_registries(installed: Path, tiny_dir: Path, tmp_path: Path):
    from crossrec.data.formats import load_mmrec
    from crossrec.run import RunSpec, TrainConfig
    from crossrec.train import Trainer

    assert "scaledbpr" in BACKBONES and "norm" in list(PLUGINS)
    run = RunSpec(
        dataset="tiny",
        backbone="scaledbpr",
        plugin="norm",
        backbone_params={"scale": 3.0},
        plugin_params={"weight": 0.01},
        train=TrainConfig(epochs=1, batch_size=64, topk=(5, 10, 20)),
    )
    metrics = Trainer(run, load_mmrec(tiny_dir), tmp_path / "run", log=lambda s: None).fit()
    assert metrics["identity"]["backbone"] == "scaledbpr"
    with pytest.raises(ConfigError, match="scaledbpr.scale: -1.0 is out of range"):
        BACKBONES.build("scaledbpr", None, {"scale": -1.0})
    # the external module's code (not its comments) is part of its runs' code digest
    before = run_code_digest("thirdparty", "crossrec.align.none")
    (installed / "thirdparty" / "__init__.py").write_text(MODELS + "\n# edited\n")
    run_code_digest.cache_clear()
    assert run_code_digest("thirdparty", "crossrec.align.none") == before
    (installed / "thirdparty" / "__init__.py").write_text(MODELS + "\nEDITED = 1\n")
    run_code_digest.cache_clear()  # cached per process (one workflow invocation)
    assert run_code_digest("thirdparty", "crossrec.align.none") != before


def test_cli_sees_installed_models(installed: Path, tiny_dir: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(installed), str(ROOT / "src")]))
    listed = subprocess.run(
        [sys.executable, "-m", "crossrec", "list"], capture_output=True, text=True, env=env
    )
    assert listed.returncode == 0 and "backbone scaledbpr" in listed.stdout
    assert "plugin norm" in listed.stdout
    cmd = [sys.executable, "-m", "crossrec", "train", "--data", str(tiny_dir), "--backbone",
           "scaledbpr", "--plugin", "norm", "--train", "epochs=1", "--train", "topk=[5,10,20]",
           "--out", str(tmp_path / "cli")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "cli" / "metrics.json").is_file()


@pytest.mark.parametrize(
    "entry,problem",
    [
        ("lightgcn = thirdparty:ScaledBPR", "already a backbone"),
        ("broken = thirdparty_missing:Thing", r"cannot be loaded \(ModuleNotFoundError"),
        ("broken = thirdparty:MODELS_TEXT", "cannot be loaded"),
        ("broken = thirdparty:torch", "not a backbone class with a Params dataclass"),
        ("broken = thirdparty_exit:Thing", r"cannot be loaded \(exit\(0\)"),
        ("broken = thirdparty_interrupt:Thing", r"cannot be loaded \(KeyboardInterrupt"),
        ("broken = thirdparty:NotADataclass", "not a backbone class with a Params dataclass"),
    ],
)
def test_bad_entry_points_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str, problem: str
) -> None:
    """A third-party module that raises anything at import — sys.exit(0) and
    KeyboardInterrupt included — or is not a usable class is one line naming the entry point
    and its package, raised for its own name and for a listing; a typo in another name is
    reported as unknown, not blamed on the broken package."""
    root = _package(tmp_path / "site", f"[crossrec.backbones]\n{entry}\n")
    (root / "thirdparty_exit.py").write_text("import sys\nsys.exit(0)\n")
    (root / "thirdparty_interrupt.py").write_text("raise KeyboardInterrupt\n")
    with (root / "thirdparty" / "__init__.py").open("a") as fh:
        fh.write("\nclass NotADataclass:\n    class Params:\n        pass\n")
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    name = entry.split(" = ")[0] if "already" not in problem else "nothing-by-this-name"
    try:
        with pytest.raises(ConfigError, match=problem) as err:
            BACKBONES[name]
        assert "\n" not in str(err.value) and "crossrec.backbones:" in str(err.value)
        assert "(package thirdparty)" in str(err.value) or "already" in str(err.value)
        if name == "broken":
            with pytest.raises(ConfigError, match="unknown backbone 'lightgcnn'.*broken"):
                BACKBONES["lightgcnn"]  # a typo: not blamed on the broken package
            with pytest.raises(ConfigError, match=problem):
                list(BACKBONES)  # `crossrec list` says what is broken
    finally:
        for module in ("thirdparty", "thirdparty_exit", "thirdparty_interrupt"):
            sys.modules.pop(module, None)
        BACKBONES._broken.clear()


WORKFLOW = """
datasets:
  ext: {source: copied, folder: FOLDER}
backbones:
  scaledbpr: {scale: [1.0, 2.0]}
plugins:
  none: {}
  norm: {weight: 0.01}
seeds: [1]
train: {epochs: 2, batch_size: 64, topk: [5, 10, 20], device: cpu}
tables: {k: [5, 10]}
"""


@pytest.mark.workflow
def test_external_package_runs_through_the_workflow(installed: Path, tmp_path: Path) -> None:
    """A source, a backbone (with a grid) and a plug-in of another package, end to end."""
    work = tmp_path / "work"
    work.mkdir()
    config = work / "config.yaml"
    config.write_text(WORKFLOW.replace("FOLDER", str(ROOT / "tests" / "fixtures" / "tiny")))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(installed), str(ROOT / "src")]))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(work), "--configfile", str(config), "--cores", "2"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(p.parent.relative_to(work / "results" / "runs") for p in
                  (work / "results" / "runs").rglob("metrics.json"))  # fmt: skip
    assert [str(r) for r in runs] == [
        "ext/scaledbpr/none/scale=1/seed1", "ext/scaledbpr/none/scale=2/seed1",
        "ext/scaledbpr/norm/scale=1/seed1", "ext/scaledbpr/norm/scale=2/seed1",
    ]  # fmt: skip
    meta = (work / "results" / "data" / "ext" / "meta.json").read_text()
    assert '"dataset": "ext"' in meta
    assert "scaledbpr" in (work / "results" / "tables" / "main.md").read_text().lower()
    # a misspelled option of the external source fails the dry run with its path
    config.write_text(config.read_text().replace("folder:", "foldr:"))
    dry = subprocess.run([*cmd, "-n"], capture_output=True, text=True, env=env, cwd=work)
    assert dry.returncode != 0
    assert "datasets.ext: unknown key(s) 'foldr'" in dry.stderr
