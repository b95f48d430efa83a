"""The CLIs, called through ``main(argv)`` exactly as the workflow calls them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from crossrec.cli import main, parse_assignments
from crossrec.errors import ConfigError


def test_parse_assignments() -> None:
    got = parse_assignments(["a=1", "b=1e-4", "c=[5, 10]", "d=cuda", "e=true"], "--param")
    assert got == {"a": 1, "b": 1e-4, "c": [5, 10], "d": "cuda", "e": True}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_assignments(["novalue"], "--param")


def test_prepare_and_train(tiny_dir: Path, tmp_path: Path, capsys) -> None:
    data = tmp_path / "data" / "toy"
    assert (
        main(
            [
                "prepare",
                "--dataset",
                "toy",
                "--source",
                "folder",
                "--raw",
                str(tiny_dir),
                "--out",
                str(data),
            ]
        )
        == 0
    )
    assert "toy: 40 users, 30 items" in capsys.readouterr().out
    assert (data / "toy.inter").is_file() and (data / "meta.json").is_file()
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--backbone",
                "bpr",
                "--param",
                "reg_weight=1e-3",
                "--train",
                "epochs=2",
                "--train",
                "topk=[5, 10, 20]",
                "--seed",
                "1",
                "--threads",
                "1",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["identity"]["dataset"] == "toy" and metrics["identity"]["seed"] == 1
    # the run folder's one definition: every default written out, no second copy
    from crossrec.run import read_run_file

    recorded = read_run_file(run / "run.yaml")
    assert recorded.backbone_params == {"emb_size": 64, "reg_weight": 1e-3}
    assert recorded.train.epochs == 2 and recorded.train.patience == 20
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == [
        "history.csv",
        "metrics.json",
        "run.yaml",
        "test_per_user.csv",
    ]


def test_errors_are_one_line(tiny_dir: Path, tmp_path: Path, capsys) -> None:
    (tiny_dir / "text_feat.npy").unlink()
    import numpy as np

    np.save(tiny_dir / "text_feat.npy", np.zeros((29, 4), np.float32))
    rc = main(["train", "--data", str(tiny_dir), "--backbone", "bpr", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0
    assert err.startswith("crossrec: error: ") and "text_feat.npy: has 29 rows" in err
    assert not (tmp_path / "r").exists()
    rc = main(["train", "--data", str(tmp_path), "--backbone", "bpr", "--out", str(tmp_path / "r")])
    assert rc == 2 and "no .inter file" in capsys.readouterr().err
    # a key given twice is refused, as in files (never the last one silently winning)
    argv = ["train", "--data", str(tiny_dir), "--backbone", "bpr", "--train", "epochs=abc",
            "--train", "epochs=1", "--out", str(tmp_path / "r")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--train epochs: given twice" in err
    assert not (tmp_path / "r").exists()


def test_unknown_param(tiny_dir: Path, tmp_path: Path, capsys) -> None:
    rc = main(
        [
            "train",
            "--data",
            str(tiny_dir),
            "--backbone",
            "lightgcn",
            "--param",
            "layers=2",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert rc == 2 and "unknown key(s) 'layers'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_list(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "backbone lightgcn" in out and "plugin none" in out
    lines = {" ".join(line.split()) for line in out.splitlines()}
    assert "n_layers int [>= 0 and <= 64] default 2" in lines
    assert "ila_mask oneway|dynamic|all default 'dynamic'" in lines  # choices from the type
    assert "modalities list[str] | None default None" in lines
    assert any(line.startswith("mm_weights") and "default {}" in line for line in lines)
    assert "MISSING" not in out
    rows = out.splitlines()  # each parameter's description on the line below it
    dropout = rows.index(next(r for r in rows if r.split()[:1] == ["dropout"] and "0.8" in r))
    assert (
        rows[dropout + 1].strip()
        == "share of train edges pruned each epoch (degree-sensitive sampling)."
    )
    assert "train  (a config's train: section" in out and "Adam's learning rate." in lines


def test_python_dash_m() -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "crossrec", "list"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "lightgcn" in proc.stdout


def test_help_has_examples_and_defaults() -> None:
    import subprocess
    import sys

    top = subprocess.run(
        [sys.executable, "-m", "crossrec", "--help"], capture_output=True, text=True
    )
    assert top.returncode == 0 and "examples:" in top.stdout and "``" not in top.stdout
    assert "crossrec train    --data" in top.stdout
    train = subprocess.run(
        [sys.executable, "-m", "crossrec", "train", "--help"], capture_output=True, text=True
    )
    lines = " ".join(train.stdout.split())
    assert "--seed SEED seed of the run (default: 999)" in lines
    assert "--plugin PLUGIN alignment plug-in name (crossrec list) (default: none)" in lines
    assert "(default: None)" not in lines and "compile" in lines
    assert "--run RUN the whole run as a YAML file" in lines


def test_a_run_file_retrains_the_same_run(tiny_dir: Path, tmp_path: Path, capsys) -> None:
    """`crossrec train --run run.yaml` (the run file an earlier run wrote) gives the same run
    bit for bit; the run is given one way only; a bad key in the file is one line."""
    first = tmp_path / "first"
    flags = ["train", "--data", str(tiny_dir), "--backbone", "lightgcn", "--plugin", "cross",
             "--plugin-param", "cla_prototypes=16", "--plugin-param", "gamma=0", "--train", "epochs=2",
             "--train", "batch_size=64", "--train", "topk=[5, 10, 20]", "--seed", "3",
             "--threads", "1", "--out"]  # fmt: skip
    assert main([*flags, str(first)]) == 0
    again = tmp_path / "again"
    cmd = ["train", "--data", str(tiny_dir), "--run", str(first / "run.yaml"), "--threads", "1"]
    assert main([*cmd, "--out", str(again)]) == 0
    for name in ("run.yaml", "test_per_user.csv"):
        assert (first / name).read_bytes() == (again / name).read_bytes()
    capsys.readouterr()

    assert main([*cmd, "--backbone", "bpr", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--backbone: give the run either with --run" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text((first / "run.yaml").read_text().replace("backbone_params", "backbone_parms"))
    cmd[cmd.index(str(first / "run.yaml"))] = str(bad)
    assert main([*cmd, "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.yaml: unknown key(s) 'backbone_parms'" in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    # --expect (the workflow's): a run file that defines another run is refused
    cmd[cmd.index(str(bad))] = str(first / "run.yaml")
    name = "tiny/lightgcn/cross/default/seed3"
    assert (
        main([*cmd, "--expect", name.replace("seed3", "seed1"), "--out", str(tmp_path / "z")]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"defines {name}, not {name[:-1]}1" in err
    assert not (tmp_path / "z").exists()
    assert main([*cmd, "--expect", name, "--out", str(tmp_path / "z")]) == 0


def test_every_subcommand_and_flag_explains_itself() -> None:
    """Each subcommand has a one-line help and a description; each flag has help text."""
    import argparse

    from crossrec.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in sub._choices_actions}
    for name, command in sub.choices.items():
        assert helps.get(name) and command.description, name
        silent = [a.option_strings or a.dest for a in command._actions
                  if not a.help and not isinstance(a, argparse._HelpAction)]  # fmt: skip
        assert not silent, (name, silent)


def test_compare_hand_trained_runs(tmp_path: Path, capsys) -> None:
    """`crossrec compare` on two hand-trained runs: both rows, and the paired tests over the
    test users — the paired t equal to scipy's on the two per-user files; a folder without a
    finished run is one line naming its metrics.json."""
    import numpy as np
    import pandas as pd
    from scipy import stats

    tiny = Path(__file__).resolve().parents[1] / "fixtures" / "tiny"
    fast = ["--train", "epochs=3", "--train", "topk=[5, 10, 20]", "--train", "batch_size=16"]
    for name, extra in (("alone", []), ("bpr", ["--seed", "7"])):
        argv = ["train", "--data", str(tiny), "--backbone", "bpr", *extra, *fast,
                "--out", str(tmp_path / name)]  # fmt: skip
        assert main(argv) == 0
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "alone"), str(tmp_path / "bpr")]) == 0
    out = capsys.readouterr().out
    rows = [r for r in out.splitlines() if r.startswith("| ")]
    assert any(str(tmp_path / "alone") in r and re.search(r"\|\s+999\s+\|", r) for r in rows)
    tested = [r for r in rows if r.startswith(f"| {tmp_path / 'bpr'}") and "paired t" in r]
    a = pd.read_csv(tmp_path / "bpr" / "test_per_user.csv").set_index("user")["recall@20"]
    b = pd.read_csv(tmp_path / "alone" / "test_per_user.csv").set_index("user")["recall@20"]
    if np.allclose(a - b, 0):
        assert tested and re.search(r"\|\s+–\s+\|", tested[0])
    else:
        t = stats.ttest_rel(a, b[a.index])
        assert tested and f"{t.statistic:.4g}" in tested[0] and f"{t.pvalue:.3g}" in tested[0]
    assert main(["compare", str(tmp_path / "alone"), str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing/metrics.json: missing" in err[0]
