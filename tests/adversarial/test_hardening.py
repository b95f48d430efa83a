"""Adversarial inputs, as a careless or hostile user would give them: configs, flags, data
folders, run files and checkpoints.

Every case ends either in correct behaviour or in one line ``crossrec: error: <file or key>:
<problem>`` with exit status 2 (3 for a diverged training run), nothing written, nothing of the
user's deleted, and no code from a checkpoint executed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from crossrec.cli import main
from crossrec.data.formats import load_mmrec
from crossrec.errors import DataError
from crossrec.outputs import MARKER, atomic_dir

FIXTURES = Path(__file__).parents[1] / "fixtures"
TINY = FIXTURES / "tiny"
FAST = ["--train", "epochs=2", "--train", "topk=[5, 10, 20]", "--train", "batch_size=128"]


def one_line_error(capsys: pytest.CaptureFixture, *needles: str) -> str:
    """The captured stderr: exactly one ``crossrec…: error:`` line containing every needle."""
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert "error:" in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def prepare(raw: Path, out: Path, *extra: str) -> int:
    return main(
        ["prepare", "--dataset", "tiny", "--source", "folder", "--raw", str(raw), "--out", str(out)]
        + list(extra)
    )


def train(data: Path, out: Path, *extra: str, backbone: str = "lightgcn") -> int:
    """``crossrec train`` with :data:`FAST`'s settings, less those ``extra`` sets itself (a
    key given twice is refused)."""
    own = {v.split("=", 1)[0] for f, v in zip(extra, extra[1:], strict=False) if f == "--train"}
    fast = [x for pair in zip(FAST[::2], FAST[1::2], strict=True)
            if pair[1].split("=", 1)[0] not in own for x in pair]  # fmt: skip
    argv = ["train", "--data", str(data), "--backbone", backbone, "--out", str(out), *fast]
    return main(argv + list(extra))


# --- data loss -----------------------------------------------------------------------------


def test_prepare_into_a_non_empty_user_folder_keeps_it(tmp_path: Path, capsys, monkeypatch) -> None:
    user = tmp_path / "s"
    user.mkdir()
    (user / "important.txt").write_text("keep")
    monkeypatch.chdir(user)
    assert prepare(TINY, Path(".")) == 2
    one_line_error(capsys, "not made by crossrec")
    assert [p.name for p in user.iterdir()] == ["important.txt"]
    assert (user / "important.txt").read_text() == "keep"


def test_out_equal_to_or_containing_the_input_is_refused(tmp_path: Path, capsys) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(TINY, raw)
    (tmp_path / "sibling.txt").write_text("keep")
    assert prepare(raw, tmp_path) == 2
    one_line_error(capsys, "contains the input")
    assert prepare(raw, raw) == 2
    one_line_error(capsys, "is the input")
    argv = ["download", "--dataset", "tiny", "--source", "folder", "--path", str(raw)]
    assert main([*argv, "--out", str(raw)]) == 2
    one_line_error(capsys, "is the input")
    assert main([*argv, "--out", str(tmp_path)]) == 2
    one_line_error(capsys, "contains the input")
    assert sorted(p.name for p in raw.iterdir()) == sorted(p.name for p in TINY.iterdir())
    assert (tmp_path / "sibling.txt").read_text() == "keep"


def test_own_output_is_replaced_by_rename_swap(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert prepare(TINY, out, "--knn-k", "4") == 0
    assert (out / MARKER).is_file() and any(out.glob("knn_*"))
    assert prepare(TINY, out) == 0  # replaced: the kNN files of the first run are gone
    assert not any(out.glob("knn_*"))
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no .tmp / .old left


def test_a_killed_prepare_partial_is_cleaned_by_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(dead.stdout)  # a process that has exited
    partial = tmp_path / ".out.abc123.tmp"
    partial.mkdir()
    import socket

    (partial / MARKER).write_text(f'{{"pid": {pid}, "host": "{socket.gethostname()}"}}')
    (partial / "tiny.inter").write_text("half")
    foreign = tmp_path / ".out.xyz789.tmp"  # same pattern but not crossrec's: left alone
    foreign.mkdir()
    assert prepare(TINY, out) == 0
    assert not partial.exists() and foreign.is_dir()


def test_legacy_prepared_folder_without_marker_is_recognised(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert prepare(TINY, out) == 0
    (out / MARKER).unlink()  # as written by a crossrec version before the marker
    assert prepare(TINY, out) == 0


def test_atomic_dir_failure_leaves_the_old_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_dir(out) as stage:
        (stage / "a.txt").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(out) as stage:
        (stage / "a.txt").write_text("2")
        raise RuntimeError("killed")
    assert (out / "a.txt").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_train_and_tables_refuse_a_user_folder(tmp_path: Path, capsys) -> None:
    user = tmp_path / "mine"
    user.mkdir()
    (user / "metrics.json").write_text("my own notes")
    (user / "notes.txt").write_text("keep")
    assert train(TINY, user) == 2
    one_line_error(capsys, "not made by crossrec")
    assert (user / "metrics.json").read_text() == "my own notes"
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    assert main(["tables", "--plan", str(plan), "--runs", str(tmp_path), "--out", str(user)]) == 2
    one_line_error(capsys)
    assert sorted(p.name for p in user.iterdir()) == ["metrics.json", "notes.txt"]


def test_plan_does_not_overwrite_a_foreign_file(tmp_path: Path, capsys) -> None:
    target = tmp_path / "thesis.json"
    target.write_text('{"chapter": 1}')
    config = shutil.copy(FIXTURES / "workflow_config.yaml", tmp_path / "c.yaml")
    Path(config).write_text(Path(config).read_text().replace("PLACEHOLDER", str(TINY)))
    assert main(["plan", "--config", str(config), "--out", str(target)]) == 2
    one_line_error(capsys, "not a crossrec plan")
    assert target.read_text() == '{"chapter": 1}'


# --- checkpoints ---------------------------------------------------------------------------


class _Planted:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_checkpoint_runs_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    pwned = tmp_path / "pwned"
    torch.save({"format": 2, "payload": _Planted(pwned)}, out / "checkpoint.pt")
    assert train(TINY, out, "--resume") == 0
    assert not pwned.exists()
    assert "not a loadable crossrec checkpoint" in capsys.readouterr().err
    assert (out / "metrics.json").is_file() and not (out / "checkpoint.pt").exists()


@pytest.mark.parametrize("content", [b"", b"\x00garbage\xff" * 10, b"PK\x03\x04broken zip"])
def test_corrupt_or_empty_checkpoint_starts_afresh(tmp_path: Path, content: bytes, capsys) -> None:
    reference = tmp_path / "ref"
    assert train(TINY, reference) == 0
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(content)
    assert train(TINY, out, "--resume") == 0
    err = capsys.readouterr().err
    assert "checkpoint.pt: ignored" in err and "Traceback" not in err
    assert (out / "metrics.json").read_text().split('"provenance"')[0] == (
        reference / "metrics.json"
    ).read_text().split('"provenance"')[0] or _same_metrics(out, reference)


def _same_metrics(a: Path, b: Path) -> bool:
    import json

    ma, mb = (json.loads((p / "metrics.json").read_text()) for p in (a, b))
    return ma["test"] == mb["test"] and ma["valid"] == mb["valid"]


def test_checkpoint_directory_is_one_line(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    (out / "checkpoint.pt").mkdir(parents=True)
    assert train(TINY, out, "--resume") == 2
    one_line_error(capsys, "checkpoint.pt: is a directory")


def test_checkpoint_for_other_data_is_not_resumed(tmp_path: Path, monkeypatch, capsys) -> None:
    from conftest import Killed, kill_after_checkpoints

    data_a = tmp_path / "a"
    shutil.copytree(TINY, data_a)
    data_b = tmp_path / "b"
    shutil.copytree(TINY, data_b)
    feats = np.load(data_b / "image_feat.npy")
    np.save(data_b / "image_feat.npy", feats[::-1].copy())  # same shape, other content
    out = tmp_path / "run"
    argv = ["--train", "epochs=3", "--checkpoint-minutes", "0"]  # a checkpoint every epoch
    with monkeypatch.context() as patch:
        kill_after_checkpoints(patch, 1)
        with pytest.raises(Killed):
            train(data_a, out, *argv, backbone="vbpr")
    assert (out / "checkpoint.pt").is_file()
    assert train(data_b, out, *argv, "--resume", backbone="vbpr") == 0
    assert "written for other data" in capsys.readouterr().err


# --- silent wrong results ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("topk=[-5, 20]", "train.topk[0]"),
        ("topk=[0]", "train.topk[0]"),
        ("topk=[5, 10, 20, 50]", "exceeds the 30 items"),
        ("topk=[]", "train.topk"),
    ],
)
def test_bad_topk(tmp_path: Path, setting: str, needle: str, capsys) -> None:
    out = tmp_path / "run"
    assert train(TINY, out, "--train", setting) == 2
    one_line_error(capsys, needle)
    assert not (out / "metrics.json").exists()


def test_default_topk_on_a_small_dataset_fails_before_training(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    argv = ["train", "--data", str(TINY), "--backbone", "bpr", "--out", str(out)]
    assert main(argv) == 2  # default topk has 50 > 30 items: said at once, not after epoch 1
    one_line_error(capsys, "train.topk: cut-off 50")
    assert not out.exists() or not (out / "history.csv").exists()


def test_split_overlap_is_refused(tiny_dir: Path) -> None:
    inter = tiny_dir / "tiny.inter"
    df = pd.read_csv(inter, sep="\t")
    train_row = df[df["x_label"] == 0].iloc[0].copy()
    train_row["x_label"] = 2
    pd.concat([df, train_row.to_frame().T]).to_csv(inter, sep="\t", index=False)
    with pytest.raises(DataError, match="test interaction.*repeat a train"):
        load_mmrec(tiny_dir)


def test_features_overflowing_float32_are_refused(tiny_dir: Path) -> None:
    feats = np.load(tiny_dir / "image_feat.npy")
    feats[3, 2] = 1e300  # finite in float64, inf in float32
    np.save(tiny_dir / "image_feat.npy", feats)
    with pytest.raises(DataError, match=r"image_feat.npy: contains NaN or inf values in 1 row"):
        load_mmrec(tiny_dir)


# --- paths ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["/tmp/ABS", "../x", "a/b", "", ".hidden", "x" * 65])
def test_dataset_names_are_identifiers(tmp_path: Path, name: str, capsys) -> None:
    for argv in (
        ["prepare", "--dataset", name, "--source", "folder", "--raw", str(TINY)],
        ["download", "--dataset", name, "--source", "folder", "--path", str(TINY)],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main([*argv, "--out", str(tmp_path / "out")])
        assert exit_info.value.code == 2
        one_line_error(capsys, "not a dataset name")
    assert list(tmp_path.iterdir()) == []


# --- one-line errors instead of tracebacks -------------------------------------------------


def _break(folder: Path, how: str) -> str:
    """Corrupt ``folder`` one way; return a word the error must contain."""
    feat = folder / "image_feat.npy"
    if how == "header_only":
        inter = folder / "tiny.inter"
        inter.write_text(inter.read_text().splitlines()[0] + "\n")
        return "tiny.inter: no interactions"
    if how == "zero_byte_feature":
        feat.write_bytes(b"")
        return "image_feat.npy: empty file"
    if how == "zero_byte_neighbors":
        (folder / "neighbors_k3.npy").write_bytes(b"")
        return "neighbors_k3.npy: empty file"
    if how == "zero_byte_user_graph":
        (folder / "user_graph_idx.npy").write_bytes(b"")
        (folder / "user_graph_cnt.npy").write_bytes(b"")
        return "user_graph_idx.npy: empty file"
    if how == "directory":
        feat.unlink()
        feat.mkdir()
        return "image_feat.npy: is a directory"
    if how == "dangling_symlink":
        feat.unlink()
        feat.symlink_to(folder / "nowhere.npy")
        return "image_feat.npy: dangling symbolic link"
    if how == "symlink_loop":
        feat.unlink()
        feat.symlink_to(feat)
        return "image_feat.npy: cannot read"
    if how == "fifo":
        feat.unlink()
        os.mkfifo(feat)
        return "image_feat.npy: not a regular file"
    if how == "device":
        feat.unlink()
        feat.symlink_to("/dev/zero")
        return "image_feat.npy: not a regular file"
    if how == "inter_device":
        (folder / "tiny.inter").unlink()
        (folder / "tiny.inter").symlink_to("/dev/zero")
        return "tiny.inter: not a regular file"
    if how == "huge_ids":
        inter = folder / "tiny.inter"
        inter.write_text(inter.read_text() + "1099511627776\t3\t4\t1\t0\n")
        return "above the maximum"
    raise AssertionError(how)


CASES = [
    "header_only",
    "zero_byte_feature",
    "zero_byte_neighbors",
    "zero_byte_user_graph",
    "directory",
    "dangling_symlink",
    "symlink_loop",
    "fifo",
    "device",
    "inter_device",
    "huge_ids",
]


@pytest.mark.parametrize("how", CASES)
def test_broken_dataset_folder_is_one_line_in_every_command(tmp_path: Path, how: str) -> None:
    """prepare, download and train each refuse the broken folder in one line naming the user's
    file, promptly (a FIFO must not block, /dev/zero must not be read), writing nothing."""
    raw = tmp_path / "raw"
    shutil.copytree(TINY, raw)
    if how in ("zero_byte_neighbors", "zero_byte_user_graph"):
        np.save(raw / "neighbors_k3.npy", np.zeros((30, 3), dtype=np.int64))
    needle = _break(raw, how)
    commands = [
        ["prepare", "--dataset", "tiny", "--source", "folder", "--raw", str(raw)],
        ["download", "--dataset", "tiny", "--source", "folder", "--path", str(raw)],
        ["train", "--data", str(raw), "--backbone", "vbpr", *FAST],
    ]
    for i, argv in enumerate(commands):
        out = tmp_path / f"out{i}"
        proc = subprocess.run(
            [sys.executable, "-m", "crossrec", *argv, "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        err = proc.stderr.strip()
        assert proc.returncode == 2, err
        assert err.count("\n") == 0 and needle in err, err
        assert ".tmp" not in err  # the user's file, never a temporary copy
        assert str(raw) in err
        assert not out.exists() or not any(p.name != MARKER for p in out.iterdir())


def test_yaml_syntax_errors_in_flags(tmp_path: Path, capsys) -> None:
    assert train(TINY, tmp_path / "r", "--param", "n_layers=[1, 2") == 2
    one_line_error(capsys, "--param n_layers", "not valid YAML")
    assert train(TINY, tmp_path / "r", "--train", "topk={5: [") == 2
    one_line_error(capsys, "--train topk", "not valid YAML")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--seed", "-1"], "--seed"),
        (["--seed", "99999999999"], "--seed"),
        (["--threads", "-3"], "--threads"),
        (["--train", "lr=-0.1"], "train.lr"),
        (["--train", "lr=.nan"], "--train lr"),  # refused by the loader (safeload)
        (["--train", "weight_decay=-1"], "train.weight_decay"),
        (["--train", "epochs=0"], "train.epochs"),
        (["--train", "batch_size=0"], "train.batch_size"),
        (["--param", "emb_size=0"], "backbone lightgcn.emb_size"),
        (["--param", "emb_size=100000000"], "backbone lightgcn.emb_size"),
        (["--param", "n_layers=-1"], "backbone lightgcn.n_layers"),
        (["--param", "reg_weight=-1e-4"], "backbone lightgcn.reg_weight"),
        (["--plugin", "cross", "--plugin-param", "cla_prototypes=0"], "cla_prototypes"),
        (["--plugin", "cross", "--plugin-param", "sinkhorn_eps=0"], "sinkhorn_eps"),
        (["--plugin", "cross", "--plugin-param", "ila_temp=-0.1"], "ila_temp"),
        (["--plugin", "cross", "--plugin-param", "cna_k=0"], "cna_k"),
        (["--train", "device=gpu0"], "train.device"),
        (["--seed", "99999999999"], "out of range (0 to 4,294,967,295)"),  # integers in full
    ],
)
def test_out_of_range_numbers(tmp_path: Path, argv: list[str], needle: str, capsys) -> None:
    out = tmp_path / "r"
    try:
        rc = train(TINY, out, *argv)
    except SystemExit as exit_info:  # argparse-level checks
        rc = exit_info.code
    assert rc == 2
    one_line_error(capsys, needle)
    assert not (out / "metrics.json").exists()


def test_other_backbones_ranges(tmp_path: Path, capsys) -> None:
    cases = [
        ("ncl", "num_clusters=0"),
        ("freedom", "knn_k=0"),
        ("lattice", "knn_k=-2"),
        ("sgl", "drop_ratio=1.5"),
        ("slmrec", "temp=0"),
    ]
    for backbone, param in cases:
        assert train(TINY, tmp_path / backbone, "--param", param, backbone=backbone) == 2
        one_line_error(capsys, f"backbone {backbone}.{param.split('=')[0]}")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
def test_cuda_without_cuda(tmp_path: Path, capsys) -> None:
    assert train(TINY, tmp_path / "r", "--train", "device=cuda") == 2
    one_line_error(capsys, "CUDA is not available")


def test_knn_k_larger_than_the_items(tmp_path: Path, capsys) -> None:
    assert prepare(TINY, tmp_path / "out", "--knn-k", "500") == 2
    one_line_error(capsys, "--knn-k: K=500 exceeds the 30 items")
    assert not (tmp_path / "out").exists()


def test_non_finite_loss_exits_3_naming_epoch_and_term(tmp_path: Path, monkeypatch, capsys) -> None:
    from crossrec.models.lightgcn import LightGCN

    original = LightGCN.rec_loss

    def poisoned(self, enc, batch):  # noqa: ANN001, ANN202
        terms = original(self, enc, batch)
        terms["reg"] = terms["reg"] * float("nan")
        return terms

    monkeypatch.setattr(LightGCN, "rec_loss", poisoned)
    assert train(TINY, tmp_path / "r") == 3
    one_line_error(capsys, "diverged at epoch 1", "loss term")


# --- plan and tables -----------------------------------------------------------------------


def _config_file(tmp_path: Path, edit: str) -> Path:
    """The workflow fixture config with the top-level keys of ``edit`` replaced (appending them
    would repeat a key, which the loader refuses)."""
    import yaml

    text = (FIXTURES / "workflow_config.yaml").read_text().replace("PLACEHOLDER", str(TINY))
    config = yaml.safe_load(text) | yaml.safe_load(edit)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        ("extra_key: 1\n", "Additional properties"),
        ("seeds: [one]\n", "seeds[0]"),
        ("selection: best\n", "selection"),
        ("tables: {k: [7]}\n", "tables.k: 7"),
        ("tables: {venue: springer}\n", "tables.venue"),
        ("tables: {float: figure}\n", "tables.float"),
        ("tables: {k: []}\n", "tables.k"),
        ("pin: [{backbone: lightgcn, params: {n_layers: 2}}]\n", "pin: pins fix the points"),
        ("tables: {k: [5, 5]}\n", "tables.k"),
        ("backbones: {lightgcn: {n_layers: [2, 2]}, freedom: {}}\n", "'n_layers': 2 listed twice"),
        ("figures: {style: no-such-style}\n", "figures.style 'no-such-style'"),
        ("figures: {width: half}\n", "figures.width"),
        ("backbones: {lightgcnn: {}, freedom: {}}\n", "backbones.lightgcnn: unknown backbone"),
        ("plugins: {crosss: {}}\n", "plugins.crosss: unknown plugin"),
        ("backbones: {freedom: {dropuot: 0.1}}\n", "backbones.freedom: unknown key(s) 'dropuot'"),
        (
            "backbones: {lightgcn: {n_layers: [2, -1]}, freedom: {}}\n",
            "backbones.lightgcn.n_layers",
        ),
        ("datasets: {'../x': {source: folder, path: /tmp}}\n", "datasets"),
        ("train: {epochs: 3, topk: [5, 10, 20], device: tpu}\n", "train.device"),
    ],
)
def test_plan_checks_the_config(tmp_path: Path, edit: str, needle: str, capsys) -> None:
    config = _config_file(tmp_path, edit)
    out = tmp_path / "plan.json"
    assert main(["plan", "--config", str(config), "--out", str(out)]) == 2
    one_line_error(capsys, str(config), needle)
    assert not out.exists()


def test_plan_on_malformed_yaml(tmp_path: Path, capsys) -> None:
    for text in ("[1, 2]\n", "datasets: {a: [\n", "just a string\n"):
        config = tmp_path / "c.yaml"
        config.write_text(text)
        assert main(["plan", "--config", str(config), "--out", str(tmp_path / "p.json")]) == 2
        one_line_error(capsys, str(config))


@pytest.mark.parametrize(
    ("plan", "needle"),
    [
        ("[]", "plan.json: not a valid plan file: <top level>"),
        ('{"schema": 1, "selection": "validation", "runs": [{"study": "main"}]}', "runs[0]"),
        ('{"schema": 1, "selection": "validation", "runs": "x"}', "runs"),
        ("not json", "not valid JSON"),
    ],
)
def test_tables_on_wrong_plan_shapes(tmp_path: Path, plan: str, needle: str, capsys) -> None:
    (tmp_path / "plan.json").write_text(plan)
    argv = ["--plan", str(tmp_path / "plan.json"), "--runs", str(tmp_path), "--out"]
    assert main(["tables", *argv, str(tmp_path / "t")]) == 2
    one_line_error(capsys, needle)


def test_tables_on_wrong_metrics_shapes(tmp_path: Path, capsys) -> None:
    run = tmp_path / "runs" / "tiny" / "bpr" / "none" / "default" / "seed1"
    run.mkdir(parents=True)
    plan = {
        "schema": 1,
        "selection": "validation",
        "runs": [
            {
                "study": "main",
                "dataset": "tiny",
                "backbone": "bpr",
                "plugin": "none",
                "variant": "default",
                "seed": 1,
            }
        ],
    }
    import json

    (tmp_path / "plan.json").write_text(json.dumps(plan))
    argv = ["tables", "--plan", str(tmp_path / "plan.json"), "--runs", str(tmp_path / "runs")]
    for blob, needle in (
        ("[1, 2]", "not of type 'object'"),
        (
            '{"schema": 1, "identity": {}, "best_epoch": 1, "valid": {}, "test": {"ndcg@5": 0}}',
            "identity",
        ),
        (
            '{"schema": 1, "identity": {"dataset": "tiny", "backbone": "bpr", "plugin": "none", '
            '"variant": "default", "seed": 1}, "best_epoch": 1, "valid": {}, '
            '"test": {"recall@20": "high"}}',
            "test.recall@20",
        ),
    ):
        (run / "metrics.json").write_text(blob)
        assert main([*argv, "--out", str(tmp_path / "t")]) == 2
        one_line_error(capsys, "metrics.json", needle)


def test_allocation_failure_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    """ids or sizes too large to allocate: torch's allocator error becomes one line."""
    import crossrec.train as train_module

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 256000000256 bytes"
        )

    monkeypatch.setattr(train_module, "build_backbone", refuse)
    assert train(TINY, tmp_path / "r") == 2
    one_line_error(capsys, "cannot allocate the model for 40 users x 30 items")


# --- issue 42: flags that promised more than they did -----------------------------------------


def test_resume_with_a_pause_on_a_finished_run_leaves_it_finished(tmp_path: Path, capsys) -> None:
    """`--pause-at-epoch 1 --resume` on a finished run: nothing to continue — no checkpoint
    beside its metrics.json, its files untouched, and the progress file says finished."""
    out = tmp_path / "run"
    assert train(TINY, out) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    progress = tmp_path / "rung0.json"
    assert train(TINY, out, "--resume", "--pause-at-epoch", "1", "--progress", str(progress)) == 0
    assert "finished already" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no checkpoint.pt either
    import json

    blob = json.loads(progress.read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert blob["finished"] is True and blob["epochs_run"] == metrics["epochs_run"]
    assert blob["best_value"] == metrics["valid"]["recall@20"]
    # another definition in the same folder is not "finished": it trains (here: pauses)
    assert train(TINY, out, "--resume", "--pause-at-epoch", "1", "--train", "lr=0.01") == 0
    assert (out / "checkpoint.pt").is_file()


def test_stop_with_a_process_already_gone_is_one_line(tmp_path: Path, capsys) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert train(TINY, tmp_path / "run", "--stop-with", str(gone.pid)) == 2
    one_line_error(capsys, f"--stop-with {gone.pid}: no such process")
    assert not (tmp_path / "run").exists()


def test_progress_pointing_at_a_folder_is_refused_before_training(tmp_path: Path, capsys) -> None:
    assert train(TINY, tmp_path / "run", "--progress", str(tmp_path)) == 2
    one_line_error(capsys, f"--progress {tmp_path}: a folder or a link")
    assert not (tmp_path / "run").exists()


def test_tables_of_a_staged_plan_json_are_refused(tmp_path: Path, capsys) -> None:
    """A staged study's plan.json lists its tune runs; the tables read study.json."""
    import json

    plan = {"schema": 1, "selection": "validation", "stages": {"tune": 1}, "tables": {},
            "runs": [{"study": "tune", "dataset": "tiny", "backbone": "lightgcn",
                      "plugin": "none", "variant": "n_layers=1", "seed": 1, "swept": None}]}  # fmt: skip
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    out = tmp_path / "tables"
    argv = ["tables", "--plan", str(tmp_path / "plan.json"), "--runs", str(tmp_path), "--out",
            str(out)]  # fmt: skip
    assert main(argv) == 2
    one_line_error(capsys, "plan.json: lists a staged study's tune runs", "results/study.json")
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--budget-s", "nan"], "--budget-s nan: a positive number of seconds"),
        (["--budget-s", "-5"], "--budget-s -5.0: a positive number of seconds"),
        (["--table", "/proc/version"], "--table /proc/version: cannot be written"),
        (["--table", "/tmp"], "--table /tmp: a folder, not a file"),
    ],
)
def test_gpu_check_flags_are_checked_before_measuring(tmp_path: Path, flags, needle) -> None:
    script = Path(__file__).parents[2] / "benchmarks" / "gpu_check.py"
    proc = subprocess.run([sys.executable, str(script), "--device", "cpu", "--quick",
                           "--out-dir", str(tmp_path), *flags],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and needle in proc.stderr.strip().splitlines()[-1], proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_plan_runs_writes_nothing_when_one_run_file_is_a_folder(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"datasets: {{tiny: {{source: folder, path: {TINY}}}}}\nbackbones: {{lightgcn: {{}}}}\n"
        "plugins: {none: {}, fettle: {}}\nseeds: [1, 2]\ntrain: {topk: [5, 10, 20]}\n"
        "tables: {k: [5, 10]}\n"
    )
    runs = tmp_path / "runs"
    (runs / "tiny/lightgcn/fettle/default/seed2/run.yaml").mkdir(parents=True)
    out = tmp_path / "plan.json"
    assert main(["plan", "--config", str(config), "--runs", str(runs), "--out", str(out)]) == 2
    one_line_error(capsys, "seed2/run.yaml: not a regular file")
    assert [p for p in runs.rglob("run.yaml") if p.is_file()] == [] and not out.exists()
