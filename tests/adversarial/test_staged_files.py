"""The staged study's files edited by hand (issue 42, items 4 and 6): selection files, rung
files and a run's progress at a rung. Each edit that would select the wrong point, or crash,
is one line naming the file and the key, exit 2, nothing written — where they are read, in
`crossrec rung` and `crossrec select` and under Snakemake's dry run alike."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crossrec.cli import main
from crossrec.errors import DataError
from crossrec.study import open_study
from crossrec.study.files import Rung, Selection, rung_path, selection_path
from crossrec.workflow_config import checked

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "tiny"
HALVING = f"""
datasets:
  tiny: {{source: folder, path: {TINY}}}
backbones:
  lightgcn: {{n_layers: [1, 2, 3, 4]}}
plugins:
  none: {{}}
stages:
  tune: {{search: {{halving: {{eta: 2, min_epochs: 1}}}}}}
seeds: [1]
train: {{epochs: 4, patience: 10, batch_size: 64, topk: [5, 10, 20], device: cpu}}
tables: {{k: [5, 10]}}
"""
RUNS = [f"tiny/lightgcn/none/n_layers={n}/seed1" for n in (1, 2, 3, 4)]
SCORES = (0.95, 0.975, 0.97, 0.9)


def _selection() -> dict:
    """A valid tune selection of LightGCN's layers as `crossrec select` writes it."""
    return {
        "stage": "tune", "dataset": "tiny", "backbone": "lightgcn", "plugin": "none",
        "variant": "n_layers=2", "point": {"n_layers": 2}, "score": 0.975,
        "metric": "valid recall@20", "seed": 1,
        "candidates": [{"variant": r.split("/")[3], "run": r, "score": s, "epochs_run": 4}
                       for r, s in zip(RUNS, SCORES, strict=True)],
    }  # fmt: skip


def _rung() -> dict:
    """A valid rung 0 (budget 1 epoch) of the four candidates, the best two going on."""
    rows = [{"variant": r.split("/")[3], "run": r, "best_epoch": 1, "best_value": s,
             "epochs_run": 1, "finished": False, "valid_metric": "recall@20"}
            for r, s in zip(RUNS, SCORES, strict=True)]  # fmt: skip
    return {"stage": "tune", "rung": 0, "epochs": 1, "keep": 2, "candidates": rows,
            "survivors": ["n_layers=2", "n_layers=3"]}  # fmt: skip


def _edited(blob: dict, edit: str) -> dict:
    """``blob`` with ``edit`` applied: ``key=<yaml>`` sets a top-level key, ``-key`` drops it,
    ``candidates[i].key=<yaml>`` sets a candidate's key."""
    blob = json.loads(json.dumps(blob))
    if edit.startswith("-"):
        del blob[edit[1:]]
        return blob
    key, _, text = edit.partition("=")
    value = yaml.safe_load(text)
    if key.startswith("candidates["):
        index, field = int(key[11]), key.split(".", 1)[1]
        blob["candidates"][index][field] = value
    else:
        blob[key] = value
    return blob


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        ("point={n_layers: 3}", "point n_layers=3 is not variant 'n_layers=2''s"),
        ("point={n_layers: 2, dropout: 0.1}", "point dropout=0.1 is not variant"),
        ("point={}", "point keys []: the tune stage chooses ['n_layers']"),
        ("dataset=other", "dataset 'other', but its path is dataset 'tiny''s"),
        ("backbone=bpr", "backbone 'bpr', but its path is backbone 'lightgcn''s"),
        ("stage=align", "stage 'align', but its path is stage 'tune''s"),
        ("seed=7", "not of seed 7"),
        ("score=high", "score: 'high' is not of type 'number'"),
        ("score=.inf", "'.inf' is not a finite number"),
        ("candidates=all", "candidates: 'all' is not of type 'array'"),
        ("candidates=[]", "candidates: [] should be non-empty"),
        ("candidates[1].run=tiny/bpr/none/n_layers=2/seed1", "is not of tiny/lightgcn/none"),
        ("candidates[1].run=tiny/lightgcn/none/n_layers=3/seed1", "is not its run"),
        ("candidates[2].variant=n_layers=1", "candidate 'n_layers=1' is listed twice"),
        ("metric=valid ndcg@20", "metric 'valid ndcg@20': this study selects on 'valid recall@20'"),
        ("variant=n_layers=9", "variant 'n_layers=9' is none of its candidates"),
        ("-metric", "'metric' is a required property"),
        ("extra=1", "'extra' was unexpected"),
    ],
)
def test_a_hand_edited_selection_is_one_line(tmp_path: Path, edit: str, needle: str) -> None:
    path = selection_path(tmp_path, "tune", "tiny", "lightgcn", "none")
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(_edited(_selection(), edit)))
    with pytest.raises(DataError) as err:
        Selection.read(path)  # the file's own checks, then the study's (its keys, seed, metric)
        open_study(checked(yaml.safe_load(HALVING)), tmp_path)
    assert str(err.value).startswith(str(path)) and needle in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_the_unedited_selection_and_rung_are_accepted(tmp_path: Path) -> None:
    path = selection_path(tmp_path, "tune", "tiny", "lightgcn", "none")
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(_selection()))
    rung = rung_path(tmp_path, "tune", "tiny", "lightgcn", "none", 0)
    rung.write_text(yaml.safe_dump(_rung()))
    study = open_study(checked(yaml.safe_load(HALVING)), tmp_path)
    assert study.chosen("tiny", "lightgcn", "none") == "n_layers=2"
    paused, final = study.rungs("tune", "tiny", "lightgcn", "none")
    assert [k.variant for k in final] == ["n_layers=2", "n_layers=3"]
    assert Rung.read(rung).survivors == ["n_layers=2", "n_layers=3"]


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        ("survivors=[]", "survivors: [] should be non-empty"),
        ("survivors=[nope, n_layers=2]", "survivor 'nope' is none of its candidates"),
        ("survivors=n_layers=2", "survivors: 'n_layers=2' is not of type 'array'"),
        ("-survivors", "'survivors' is a required property"),
        ("survivors=[n_layers=2, n_layers=2]", "survivors: ['n_layers=2', 'n_layers=2'] has "
                                                "non-unique elements"),
        ("keep=3", "2 survivors, but keep is 3"),
        ("rung=1", "stage 'tune', rung 1: this file is tune's rung 0"),
        ("candidates[0].best_value=1.0e+999", "'.inf' is not a finite number"),
        ("candidates[0].best_value=5.0", "best_value: 5.0 is greater than the maximum of 1"),
        ("candidates[0].best_value=high", "best_value: 'high' is not of type 'number'"),
        ("candidates[0].best_value=null", "best_value: None is not of type 'number'"),
        ("candidates[0].epochs_run=-3", "epochs_run: -3 is less than the minimum of 0"),
        ("candidates[0].epochs_run=9", "epochs_run 9 exceeds the rung's 1"),
        ("candidates[2].variant=n_layers=2", "candidate 'n_layers=2' is listed twice"),
    ],
)  # fmt: skip
def test_a_hand_edited_rung_file_is_one_line(tmp_path: Path, edit: str, needle: str) -> None:
    path = rung_path(tmp_path, "tune", "tiny", "lightgcn", "none", 0)
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(_edited(_rung(), edit)))
    study = open_study(checked(yaml.safe_load(HALVING)), tmp_path)
    with pytest.raises(DataError) as err:
        study.rungs("tune", "tiny", "lightgcn", "none")
    assert str(err.value).startswith(str(path)) and needle in str(err.value), str(err.value)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ('"high"', "best_value: 'high' is not of type 'number'"),
        ("null", "best_value: None is not of type 'number'"),
        ("[0.5]", "best_value: [0.5] is not of type 'number'"),
        ("5.0", "best_value: 5.0 is greater than the maximum of 1"),
        ("1e999", "best_value: inf is greater than the maximum of 1"),
        (None, "'best_value' is a required property"),
    ],
)
def test_a_hand_edited_progress_file_is_one_line_in_crossrec_rung(
    tmp_path: Path, value: str | None, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`crossrec rung` over the candidates' rung0.json: one damaged → one line, no rung file."""
    config = tmp_path / "config.yaml"
    config.write_text(HALVING)
    runs, sels = tmp_path / "runs", tmp_path / "selections"
    for i, (run, score) in enumerate(zip(RUNS, SCORES, strict=True)):
        blob = {"epochs_run": 1, "best_epoch": 1, "best_value": score,
                "valid_metric": "recall@20", "finished": False}  # fmt: skip
        if i == 1 and value is None:
            del blob["best_value"]
        elif i == 1:
            blob["best_value"] = "VALUE"
        text = json.dumps(blob).replace('"VALUE"', str(value))
        (runs / run).mkdir(parents=True)
        (runs / run / "rung0.json").write_text(text)
    out = rung_path(sels, "tune", "tiny", "lightgcn", "none", 0)
    argv = ["rung", "--config", str(config), "--stage", "tune", "--dataset", "tiny", "--backbone",
            "lightgcn", "--rung", "0", "--selections", str(sels), "--runs", str(runs), "--out",
            str(out)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "n_layers=2/seed1/rung0.json" in err and needle in err, err
    assert not out.exists()


def test_a_progress_file_of_another_metric_is_refused(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    config = tmp_path / "config.yaml"
    config.write_text(HALVING)
    runs, sels = tmp_path / "runs", tmp_path / "selections"
    for run, score in zip(RUNS, SCORES, strict=True):
        metric = "ndcg@20" if run.endswith("n_layers=3/seed1") else "recall@20"
        (runs / run).mkdir(parents=True)
        (runs / run / "rung0.json").write_text(json.dumps(
            {"epochs_run": 1, "best_epoch": 1, "best_value": score, "valid_metric": metric,
             "finished": False}))  # fmt: skip
    out = tmp_path / "rung0.yaml"
    argv = ["rung", "--config", str(config), "--stage", "tune", "--dataset", "tiny", "--backbone",
            "lightgcn", "--rung", "0", "--selections", str(sels), "--runs", str(runs), "--out",
            str(out)]  # fmt: skip
    assert main(argv) == 2
    assert "valid_metric 'ndcg@20': the study selects on recall@20" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.workflow
def test_a_broken_rung_file_under_snakemake_is_one_line(tmp_path: Path) -> None:
    """The rung file is read while Snakemake builds the DAG (an input function): one line and
    exit 2, not an InputFunctionException with its stack frames."""
    (tmp_path / "config.yaml").write_text(HALVING)
    path = rung_path(tmp_path / "results" / "selections", "tune", "tiny", "lightgcn", "none", 0)
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(_edited(_rung(), "survivors=[]")))
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    cmd = [shutil.which("snakemake", path=env["PATH"]), "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "-n"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert errors == [f"crossrec: error: {path.relative_to(tmp_path)}: not a valid rung file: "
                      "survivors: [] should be non-empty"], proc.stderr[-2000:]  # fmt: skip
    assert "Traceback" not in proc.stderr and "File " not in proc.stderr
