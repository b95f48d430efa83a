"""A staged study on the fixture through Snakemake: tune → align → replicate, selections as
files, the DAG growing after each selection, a pin skipping its stage, an edited selection
rerunning only what depends on it, the tables reading only the replicate runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from crossrec.errors import ConfigError, DataError
from crossrec.study import open_study
from crossrec.study.files import Selection, selection_path
from crossrec.study.selection import best
from crossrec.workflow_config import checked

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "tiny"

STAGED = """
datasets:
  tiny: {source: folder, path: PLACEHOLDER}
backbones:
  lightgcn: {n_layers: [1, 2]}
  freedom: {knn_k: 4, dropout: [0.8, 0.9]}
plugins:
  none: {}
  fettle: {alpha: [1.0e-3, 1.0e-2], cla_prototypes: 16}
stages: {tune: {}, align: {}}
pin:
  - {backbone: freedom, params: {dropout: 0.9}}
knockout: {modalities: [image, text], backbones: [freedom], subsets: [[text]], seeds: [1]}
item_knn_k: [4]
seeds: [1, 2]
train: {epochs: 2, batch_size: 64, topk: [5, 10, 20], device: cpu}
tables: {k: [5, 10]}
"""


STAGED_RUNS = 13  # distinct runs of STAGED: what the estimate counts and the workflow trains


def _config(text: str = STAGED) -> dict:
    return checked(yaml.safe_load(text.replace("PLACEHOLDER", str(TINY))))


def test_the_plan_before_any_selection() -> None:
    exp = open_study(_config())
    tune = [(k.backbone, k.plugin, k.variant, k.seed) for k in exp.runs("tune")]
    assert tune == [("lightgcn", "none", "n_layers=1", 1), ("lightgcn", "none", "n_layers=2", 1)]
    # freedom is pinned: no tune stage; its align runs and its own replicate runs are known
    align = [(k.backbone, k.plugin, k.variant) for k in exp.runs("align")]
    assert align == [("freedom", "fettle", "alpha=0.001+dropout=0.9"),
                     ("freedom", "fettle", "alpha=0.01+dropout=0.9")]  # fmt: skip
    main = [(k.backbone, k.plugin, k.variant, k.seed) for k in exp.runs("main")]
    assert main == [("freedom", "none", "dropout=0.9", 1), ("freedom", "none", "dropout=0.9", 2)]
    run = exp.run_definition(exp.runs("align")[0])
    assert run.backbone_params["dropout"] == 0.9 and run.plugin_params["alpha"] == 1e-3


def test_the_estimate_counts_every_stage() -> None:
    """2 tune runs; FETTLE's 2 points on each backbone; (none, fettle) x 2 backbones x 2 seeds
    replicate; FREEDOM's (none, fettle) on all and on text only, seed 1 (the first two are
    replicate runs) — 13 distinct runs, as the end-to-end test trains."""
    from crossrec.costs import CostTable, estimate

    est = estimate(_config(), CostTable.load("cpu"))
    jobs = {study: entry["jobs"] for study, entry in est["studies"].items()}
    assert jobs == {"tune": 2, "align": 4, "main": 8, "knockout": 4}
    assert est["total"]["jobs"] == STAGED_RUNS


def test_bad_stage_configs_are_one_line() -> None:
    with pytest.raises(ConfigError, match="pin freedom: fix the grid key 'dropout'"):
        _config(STAGED.replace("params: {dropout: 0.9}", "params: {knn_k: 4}"))
    with pytest.raises(ConfigError, match="pin\\[0\\]: backbone 'bpr' is not in"):
        _config(STAGED.replace("backbone: freedom, params", "backbone: bpr, params"))
    with pytest.raises(ConfigError, match="add `none: {}`"):
        _config(STAGED.replace("  none: {}\n", ""))
    # two pins of one point; a plug-in pin holding a backbone's parameter
    two = "  - {backbone: freedom, params: {dropout: 0.9}}\n"
    with pytest.raises(ConfigError, match=r"pin\[1\]: pins the same point as pin\[0\]"):
        _config(STAGED.replace(two, two + two.replace("0.9", "0.8")))
    foreign = "  - {backbone: freedom, plugin: fettle, params: {dropout: 0.8}}\n"
    with pytest.raises(ConfigError, match=r"pin\[1\].params.dropout: a parameter of backbone"):
        _config(STAGED.replace(two, two + foreign))


def test_best_takes_the_first_maximum_and_never_nan() -> None:
    assert best([("a", 0.1), ("b", 0.3), ("c", 0.3)]) == ("b", 0.3)
    assert best([("a", float("nan")), ("b", 0.2)]) == ("b", 0.2)


def test_a_selection_file_names_one_of_its_candidates(tmp_path: Path) -> None:
    sel = Selection("tune", "tiny", "lightgcn", "none", "n_layers=2", {"n_layers": 2}, 0.5,
                    "valid recall@20", 1, [{"variant": "n_layers=2",
                    "run": "tiny/lightgcn/none/n_layers=2/seed1", "score": 0.5}])  # fmt: skip
    path = selection_path(tmp_path, "tune", "tiny", "lightgcn", "none")
    sel.write(path)
    assert Selection.read(path) == sel
    path.write_text(path.read_text().replace("variant: n_layers=2\n", "variant: x=9\n", 1))
    with pytest.raises(DataError, match="tune.yaml: variant 'x=9' is none of its candidates"):
        Selection.read(path)


def _train_jobs(stdout: str) -> list[str]:
    jobs, in_train = [], False
    for line in map(str.strip, stdout.splitlines()):
        if line.startswith(("rule ", "localrule ")):
            in_train = line.split()[1] == "train:"
        elif in_train and line.startswith("wildcards:"):
            jobs.append(line.removeprefix("wildcards: "))
    return jobs


def _mtimes(work: Path) -> dict[str, int]:
    return {
        str(f.parent.relative_to(work / "results" / "runs")): f.stat().st_mtime_ns
        for f in (work / "results" / "runs").rglob("metrics.json")
    }


@pytest.mark.workflow
def test_a_staged_study_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(STAGED.replace("PLACEHOLDER", str(TINY)))
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    base = [shutil.which("snakemake", path=env["PATH"]), "--snakefile", str(ROOT / "Snakefile"),
            "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml")]  # fmt: skip

    def snakemake(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*base, *args], capture_output=True, text=True, env=env, cwd=tmp_path)

    # before any selection the DAG holds the tune runs only (and the pinned backbone's runs
    # are not reached yet); it grows after each selection
    first = _train_jobs(snakemake("-n", "--cores", "1").stdout)
    assert sorted(first) == sorted(
        f"dataset=tiny, backbone=lightgcn, plugin=none, variant=n_layers={n}, seed=1"
        for n in (1, 2)
    )
    assert snakemake("--cores", "1", "--until", "stage_tune").returncode == 0
    selections = tmp_path / "results" / "selections" / "tiny"
    tune = Selection.read(selections / "lightgcn" / "tune.yaml")
    assert {c["variant"] for c in tune.candidates} == {"n_layers=1", "n_layers=2"}
    grown = _train_jobs(snakemake("-n", "--cores", "1").stdout)
    assert any("plugin=fettle" in job and f"+{tune.variant}" in job for job in grown), grown

    done = snakemake("--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(_mtimes(tmp_path)) == STAGED_RUNS  # as the estimate counted
    # no tune stage for the pinned backbone
    assert not (selections / "freedom" / "tune.yaml").exists()
    align = Selection.read(selections / "freedom" / "fettle" / "align.yaml")
    assert align.variant in ("alpha=0.001+dropout=0.9", "alpha=0.01+dropout=0.9")
    # the tables read the replicate runs only: the selected points, every seed
    runs = pd.read_csv(tmp_path / "results" / "tables" / "runs.csv")
    assert set(runs["study"]) == {"main", "knockout"} and (runs["study"] == "main").sum() == 8
    knocked = runs[runs["study"] == "knockout"]  # at the selected points, known after align
    assert set(knocked["dataset"]) == {"tiny", "tiny-only-text"} and len(knocked) == 4
    assert set(knocked[knocked["plugin"] == "fettle"]["variant"]) == {align.variant}
    knockout = pd.read_csv(tmp_path / "results" / "tables" / "knockout.csv")
    assert knockout["modalities"].tolist() == ["all", "all", "text", "text"]
    chosen = runs[(runs["backbone"] == "lightgcn") & (runs["plugin"] == "none")]
    assert set(chosen["variant"]) == {tune.variant} and sorted(chosen["seed"]) == [1, 2]
    assert set(runs[runs["plugin"] == "fettle"]["variant"]) >= {align.variant}
    # the tuning table: every candidate of every stage, scores as the selection files hold them
    tuning = pd.read_csv(tmp_path / "results" / "tables" / "tuning.csv")
    for sel, plugin in ((tune, "none"), (align, "fettle")):
        rows = tuning[(tuning["backbone"] == sel.backbone) & (tuning["plugin"] == plugin)]
        assert rows["variant"].tolist() == [c["variant"] for c in sel.candidates]
        assert rows["score"].tolist() == pytest.approx([c["score"] for c in sel.candidates])
        assert rows.loc[rows["winner"], "variant"].tolist() == [sel.variant]
    files = [Selection.read(p) for p in selections.rglob("*.yaml")]  # no tune file: the pin
    assert len(tuning) == sum(len(sel.candidates) for sel in files) and len(files) == 3
    selection = pd.read_csv(tmp_path / "results" / "tables" / "selection.csv")
    lgn = selection[(selection["backbone"] == "lightgcn") & (selection["plugin"] == "none")]
    assert lgn["candidates"].item() == len(tune.candidates)  # the stage's, not the replicate's
    assert (tmp_path / "results" / "figures" / "tuning.png").stat().st_size > 1000
    # only what the study has: no ablation or sensitivity study, no paper dataset
    for absent in ("tables/ablation.md", "tables/paper_vs_ours.csv", "figures/sensitivity.png"):
        assert not (tmp_path / "results" / absent).exists(), absent
    assert "nothing to be done" in snakemake("-n", "--cores", "1").stdout.lower()

    # another candidate written into one selection file: only what depends on it reruns
    other = next(c["variant"] for c in tune.candidates if c["variant"] != tune.variant)
    path = selections / "lightgcn" / "tune.yaml"
    (before_n,), (after_n,) = (v.split("=")[1:] for v in (tune.variant, other))
    text = path.read_text().replace(f"variant: {tune.variant}\n", f"variant: {other}\n", 1)
    text = text.replace(f"  n_layers: {before_n}\n", f"  n_layers: {after_n}\n", 1)
    path.write_text(text)
    before = _mtimes(tmp_path)
    assert snakemake("--cores", "2").returncode == 0
    after = _mtimes(tmp_path)
    retrained = sorted(k for k in after if after[k] != before.get(k))
    assert retrained and all(k.startswith("tiny/lightgcn/") and other in k for k in retrained)
    assert all(before[k] == after[k] for k in before if k.startswith("tiny/freedom/"))
    runs = pd.read_csv(tmp_path / "results" / "tables" / "runs.csv")
    lgn = runs[(runs["backbone"] == "lightgcn") & (runs["plugin"] == "none")]
    assert set(lgn["variant"]) == {other}

    # a selection file lost (here a dangling link where it was) is made again by the next
    # run, from its candidates' runs: the same file, nothing retrained
    lost = selections / "freedom" / "fettle" / "align.yaml"
    kept = lost.read_text()
    lost.unlink()
    lost.symlink_to(tmp_path / "gone.yaml")
    before = _mtimes(tmp_path)
    assert "select_align" in snakemake("-n", "--cores", "1").stdout
    again = snakemake("--cores", "2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert lost.is_file() and not lost.is_symlink() and lost.read_text() == kept
    assert _mtimes(tmp_path) == before


HALVING = """
datasets:
  tiny: {source: folder, path: PLACEHOLDER}
backbones:
  lightgcn: {n_layers: [1, 2, 3, 4]}
plugins:
  none: {}
  fettle: {alpha: [1.0e-4, 1.0e-1], cla_prototypes: 16}
stages:
  tune: {search: {halving: {eta: 2, min_epochs: 1}}}
  align: {search: grid}
seeds: [1, 2]
train: {epochs: 4, patience: 10, batch_size: 64, topk: [5, 10, 20], device: cpu}
tables: {k: [5, 10]}
"""


@pytest.mark.workflow
def test_successive_halving_through_the_workflow(tmp_path: Path) -> None:
    """Four tune points train one epoch (rung 0), the best two go on to early stopping; the
    selected point's run is bit-identical to the same run trained without a pause."""
    (tmp_path / "config.yaml").write_text(HALVING.replace("PLACEHOLDER", str(TINY)))
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    cmd = [shutil.which("snakemake", path=env["PATH"]), "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"),
           "--cores", "2"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    sel_dir = tmp_path / "results" / "selections" / "tiny" / "lightgcn"
    rung = yaml.safe_load((sel_dir / "tune.rung0.yaml").read_text())
    assert rung["epochs"] == 1 and len(rung["candidates"]) == 4 and len(rung["survivors"]) == 2
    assert all(c["epochs_run"] == 1 for c in rung["candidates"])
    tune = Selection.read(sel_dir / "tune.yaml")
    finalists = [c for c in tune.candidates if "stopped_at_rung" not in c]
    assert sorted(c["variant"] for c in finalists) == sorted(rung["survivors"])
    assert tune.variant in rung["survivors"] and len(tune.candidates) == 4
    trained = sum(c["epochs_run"] for c in tune.candidates)
    assert trained < 4 * 4  # an exhaustive search trains every point to the end
    from crossrec.costs import CostTable, estimate

    est = estimate(_config(HALVING), CostTable.load("cpu"))["stages"]["tune"]
    assert (est["runs"], est["epochs"], est["exhaustive_epochs"]) == (4, trained, 16)
    # the finalist paused after rung 0 and resumed: the same as never paused
    run = tmp_path / "results" / "runs" / "tiny" / "lightgcn" / "none" / tune.variant / "seed1"
    again = tmp_path / "again"
    straight = subprocess.run(
        [sys.executable, "-m", "crossrec", "train", "--data", str(tmp_path / "results" / "data" / "tiny"),
         "--run", str(run / "run.yaml"), "--threads", "1", "--out", str(again)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert straight.returncode == 0, straight.stderr[-2000:]
    timing = ["train_seconds", "eval_seconds"]
    pd.testing.assert_frame_equal(
        pd.read_csv(run / "history.csv").drop(columns=timing),
        pd.read_csv(again / "history.csv").drop(columns=timing),
        check_exact=True,
    )
    assert (run / "test_per_user.csv").read_bytes() == (again / "test_per_user.csv").read_bytes()


def test_select_checks_the_runs_and_the_flags(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """`crossrec select` picks the better tune candidate; a metrics.json swapped between two
    candidates, an unknown backbone, or `--stage align --plugin none` is one line, exit 2, and
    no selection file."""
    import shutil as sh

    from conftest import write_metrics

    from crossrec.cli import main

    config = tmp_path / "config.yaml"
    config.write_text(STAGED.replace("PLACEHOLDER", str(TINY)))
    runs, sels = tmp_path / "runs", tmp_path / "selections"
    for layers, score in ((1, 0.2), (2, 0.4)):
        write_metrics(runs, ("tiny", "lightgcn", "none", f"n_layers={layers}", 1),
                      {"recall@20": score}, {"recall@20": score})  # fmt: skip
    out = sels / "tiny" / "lightgcn" / "tune.yaml"
    base = ["select", "--config", str(config), "--stage", "tune", "--dataset", "tiny",
            "--selections", str(sels), "--runs", str(runs), "--out", str(out)]  # fmt: skip
    assert main([*base, "--backbone", "lightgcn"]) == 0
    assert Selection.read(out).variant == "n_layers=2"
    out.unlink()
    capsys.readouterr()
    one, two = (runs / "tiny" / "lightgcn" / "none" / f"n_layers={n}" / "seed1" for n in (1, 2))
    sh.copy(one / "metrics.json", two / "metrics.json")  # another run's file
    assert main([*base, "--backbone", "lightgcn"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "n_layers=2/seed1/metrics.json: identity variant='n_layers=1'" in err[0]
    )
    assert main([*base, "--backbone", "bpr"]) == 2
    assert "--backbone 'bpr': not in" in capsys.readouterr().err
    align = [a if a != "tune" else "align" for a in base]
    assert main([*align, "--backbone", "lightgcn", "--plugin", "none"]) == 2
    assert "--plugin: give a plug-in (not none)" in capsys.readouterr().err
    assert not out.exists()
