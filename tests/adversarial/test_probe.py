"""Hostile YAML and JSON, cost tables, read-only and full destinations, two writers, the GPU
slot folder and report inputs, each as a user or a hostile file would
meet it: exit 2, one bounded line naming the culprit, and nothing left behind."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crossrec.errors import ConfigError, DataError, OutputError
from crossrec.safeload import parse_json, parse_yaml

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "tiny"
FAST = ["--train", "epochs=2", "--train", "topk=[5,10,20]", "--train", "batch_size=128"]
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def crossrec(*args: str, cwd: Path | None = None, **kw: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "crossrec", *args], capture_output=True, text=True, cwd=cwd,
        timeout=300, **kw,
    )  # fmt: skip


def one_line(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """rc 2 and exactly one bounded `crossrec: error:` line holding every needle."""
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, err[-2000:])
    assert err.count("\n") == 0 and err.startswith("crossrec: error:"), err[-2000:]
    assert "Traceback" not in err and len(err) <= 700, err[-2000:]
    for needle in needles:
        assert needle in err, err
    return err


def _config(tmp_path: Path, text: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"datasets:\n  tiny: {{source: folder, path: {TINY}}}\nbackbones:\n  lightgcn: {{}}\n"
        f"plugins:\n  none: {{}}\nseeds: [1]\ntrain: {{epochs: 2, topk: [5, 10, 20]}}\n{text}"
    )
    return path


# --- one safe loader -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("seeds: [2]\n", "line 9: duplicate key 'seeds' (first on line 7)"),
        ("tables: {k: [5], k: [10]}\n", "duplicate key 'k'"),
        (BOMB, "YAML alias *a refused"),
        ("extra: " + "[" * 200 + "]" * 200 + "\n", "nested deeper than 64 levels"),
        ("resources: {train_threads: .inf}\n", "'.inf' is not a finite number"),
    ],
)
def test_hostile_config_is_one_line_before_any_work(tmp_path: Path, text: str, needle: str) -> None:
    start = time.monotonic()
    proc = crossrec("plan", "--config", str(_config(tmp_path, text)), "--out", str(tmp_path / "p"))
    one_line(proc, "config.yaml", needle)
    assert time.monotonic() - start < 30 and not (tmp_path / "p").exists()


def test_alias_bomb_run_file_gives_a_short_error_at_once(tmp_path: Path) -> None:
    run = tmp_path / "run.yaml"
    run.write_text(BOMB)
    start = time.monotonic()
    with pytest.raises(ConfigError) as err:
        from crossrec.run import read_run_file

        read_run_file(run)
    assert time.monotonic() - start < 1.0 and len(str(err.value)) < 300
    assert "alias" in str(err.value) and str(run) in str(err.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"test": {"recall@20": 0.1, "recall@20": 0.999}}', "duplicate key 'recall@20'"),
        ('{"a": NaN}', "NaN is not a finite number"),
        ('{"a": -Infinity}', "-Infinity is not a finite number"),
        ("[" * 5000 + "]" * 5000, "nested deeper than 64 levels"),
    ],
)
def test_hostile_json(text: str, needle: str) -> None:
    with pytest.raises(DataError, match=needle.replace("(", r"\(")) as err:
        parse_json(text, "metrics.json")
    assert "metrics.json" in str(err.value)


def test_loader_accepts_what_crossrec_writes() -> None:
    assert parse_yaml("a: 1\nb: [1.0e-4, x]\nc: {d: 2}\n", "f") == {
        "a": 1, "b": [1e-4, "x"], "c": {"d": 2},
    }  # fmt: skip
    assert parse_json('{"a": [1, 2.5], "b": {"c": null}}', "f") == {
        "a": [1, 2.5], "b": {"c": None},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ({"epoch_s": -1.0}, "rows[0].epoch_s: -1.0 is not in 0 to 1e+09"),
        ({"eval_s": "fast"}, "rows[0].eval_s: missing or not a number"),
        ({"peak_mb": None}, "rows[0].peak_mb: missing or not a number"),
    ],
)
def test_bad_cost_tables_are_one_line(tmp_path: Path, row: dict, needle: str) -> None:
    good = {"shape": "tiny", "backbone": "lightgcn", "plugin": "none", "build_s": 1.0,
            "epoch_s": 1.0, "eval_s": 1.0, "peak_mb": 100.0}  # fmt: skip
    table = tmp_path / "cpu.json"
    table.write_text(json.dumps({"device": "cpu", "rows": [good | row]}))
    proc = crossrec("estimate", "--config", str(_config(tmp_path)), "--device", "cpu",
                    "--costs", str(table))  # fmt: skip
    one_line(proc, "cpu.json", needle)
    assert proc.stdout == ""


# --- destinations ------------------------------------------------------------------------------


def _read_only(folder: Path, script: str) -> subprocess.CompletedProcess:
    """``script`` (sh) with ``folder`` bind-mounted read-only in a private mount namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare: a read-only mount cannot be made here")
    setup = f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder} || exit 99\n"
    proc = subprocess.run(["unshare", "-m", "sh", "-c", setup + script], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    if proc.returncode == 99 or "unshare failed" in proc.stderr:
        pytest.skip(f"no private read-only mount allowed here ({proc.stderr.strip()[:200]})")
    return proc


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--backbone", "bpr", "--data", str(TINY), *FAST],
        ["prepare", "--dataset", "tiny", "--source", "folder", "--raw", str(TINY)],
        ["synth", "--shape", "ml100k"],
        ["plan", "--config", "CONFIG"],
    ],
)
def test_read_only_destination_leaves_nothing(tmp_path: Path, args: list[str]) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    args = [str(_config(tmp_path)) if a == "CONFIG" else a for a in args]
    out = ro / ("plan.json" if args[0] == "plan" else "out")
    cmd = " ".join([sys.executable, "-m", "crossrec", *args, "--out", str(out)])
    proc = _read_only(ro, cmd)
    one_line(proc, str(out), "read-only file system")
    assert list(ro.iterdir()) == []


def test_a_disk_that_fills_during_a_checkpoint_leaves_no_partial_file(tmp_path: Path) -> None:
    """A file-size limit makes the checkpoint's write fail as a full disk does (EFBIG, like
    ENOSPC an OSError of the write): one line naming the checkpoint, no temporary left."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))

    out = tmp_path / "run"
    proc = crossrec("train", "--backbone", "lightgcn", "--data", str(TINY), *FAST,
                    "--checkpoint-minutes", "0", "--out", str(out), preexec_fn=limit)  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("crossrec: error:") and "checkpoint.pt" in last, last
    assert "Traceback" not in proc.stderr
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert not (out / "checkpoint.pt").exists()


def test_two_writers_on_one_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    long = subprocess.Popen(
        [sys.executable, "-m", "crossrec", "train", "--backbone", "lightgcn", "--data", str(TINY),
         "--train", "epochs=100000", "--train", "patience=100000", "--train", "topk=[5,20]",
         "--out", str(out)], stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(600):
            if (out / "history.csv").exists() or (out / ".crossrec.lock").exists():
                break
            time.sleep(0.1)
        time.sleep(0.5)
        second = crossrec("train", "--backbone", "lightgcn", "--data", str(TINY), *FAST,
                          "--seed", "2", "--out", str(out))  # fmt: skip
        one_line(second, str(out), f"pid {long.pid}", "another crossrec process")
    finally:
        long.kill()
        long.wait()


def test_gpu_slot_folder_is_private_and_follows_no_link(tmp_path: Path) -> None:
    from crossrec.device import gpu_slots

    folder = tmp_path / "slots"
    folder.mkdir(mode=0o700)
    target = tmp_path / "victim"
    (folder / "gpu0.slot0").symlink_to(target)
    with pytest.raises(OutputError, match="symbolic link"):
        gpu_slots.claim(1, folder)
    assert not target.exists()  # nothing created at the link's target
    gpu_slots.release()
    (folder / "gpu0.slot0").unlink()
    folder.chmod(0o777)
    with pytest.raises(OutputError, match="open to other users"):
        gpu_slots.claim(1, folder)
    shutil.rmtree(folder)
    folder.write_text("a file")
    with pytest.raises(OutputError, match="not a folder"):
        gpu_slots.claim(1, folder)


# --- the report's inputs -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seeds of LightGCN alone and with FETTLE on the tiny fixture, planned and trained."""
    work = tmp_path_factory.mktemp("probe_study")
    config = _config(work)
    text = config.read_text().replace("seeds: [1]", "seeds: [1, 2]")
    config.write_text(text.replace("  none: {}", "  none: {}\n  fettle: {cla_prototypes: 4}"))
    proc = crossrec("plan", "--config", str(config), "--out", "plan.json", "--runs", "runs",
                    cwd=work)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for run in sorted((work / "runs").rglob("run.yaml")):
        proc = crossrec("train", "--data", str(TINY), "--run", str(run), "--out",
                        str(run.parent), cwd=work)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
    return work


def _copy(study: Path, tmp_path: Path) -> Path:
    shutil.copytree(study, tmp_path / "s")
    return tmp_path / "s"


@pytest.mark.parametrize(
    ("kind", "damage", "needle"),
    [
        *[(k, "metrics_nan", "NaN is not a finite number") for k in ("tables", "figures")],
        *[(k, "metrics_duplicate", "duplicate key") for k in ("tables", "figures")],
        ("tables", "per_user_truncated", "test_per_user.csv"),  # figures do not read it
        ("figures", "history_nan", "history.csv: line 2"),  # tables do not read it
        *[(k, "correction", "tables.correction 'sidak'") for k in ("tables", "figures")],
        ("figures", "history_header_only", "history.csv: no epochs"),
        *[
            (k, "plan_run_twice", "plan.json: lists run main/tiny/lightgcn")
            for k in ("tables", "figures")
        ],
    ],
)
@pytest.mark.slow  # over 10 s: left out of the quick subset
def test_report_refuses_inputs_that_would_change_its_numbers(
    study: Path, tmp_path: Path, kind: str, damage: str, needle: str
) -> None:
    work = _copy(study, tmp_path)
    run = work / "runs" / "tiny" / "lightgcn" / "fettle" / "default" / "seed2"
    if damage == "metrics_nan":
        text = (run / "metrics.json").read_text()
        blob = json.loads(text)
        old = json.dumps(blob["test"]["recall@20"])
        (run / "metrics.json").write_text(text.replace(f'"recall@20": {old}', '"recall@20": NaN'))
    elif damage == "metrics_duplicate":
        text = (run / "metrics.json").read_text()
        (run / "metrics.json").write_text(text.replace('"test": {', '"test": {"recall@20": 0.999,'))
    elif damage == "per_user_truncated":
        lines = (run / "test_per_user.csv").read_text().splitlines()
        (run / "test_per_user.csv").write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    elif damage == "history_nan":
        lines = (run / "history.csv").read_text().splitlines()
        header = lines[0].split(",")
        cells = lines[1].split(",")
        cells[header.index("valid_recall@20")] = "nan"
        (run / "history.csv").write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    elif damage == "history_header_only":
        lines = (run / "history.csv").read_text().splitlines()
        (run / "history.csv").write_text(lines[0] + "\n")
    elif damage == "plan_run_twice":
        plan = json.loads((work / "plan.json").read_text())
        plan["runs"].append(plan["runs"][0])
        (work / "plan.json").write_text(json.dumps(plan))
    else:
        plan = json.loads((work / "plan.json").read_text())
        plan["tables"]["correction"] = "sidak"
        (work / "plan.json").write_text(json.dumps(plan))
    proc = crossrec(kind, "--plan", "plan.json", "--runs", "runs", "--out", "out", cwd=work)
    one_line(proc, needle)
    assert not (work / "out").exists()  # nothing written, not even the folder


def test_mismatched_seeds_are_refused(study: Path, tmp_path: Path) -> None:
    work = _copy(study, tmp_path)
    plan = json.loads((work / "plan.json").read_text())
    plan["runs"] = [r for r in plan["runs"] if not (r["plugin"] == "fettle" and r["seed"] == 2)]
    (work / "plan.json").write_text(json.dumps(plan))
    proc = crossrec("tables", "--plan", "plan.json", "--runs", "runs", "--out", "out", cwd=work)
    one_line(proc, "tiny/lightgcn/fettle", "seeds [1] differ from the backbone alone's [1, 2]")
    assert not (work / "out").exists()


def test_the_intact_study_reports(study: Path, tmp_path: Path) -> None:
    """The probe's fixture itself passes every check (the refusals above are the damage's)."""
    work = _copy(study, tmp_path)
    for kind in ("tables", "figures"):
        proc = crossrec(kind, "--plan", "plan.json", "--runs", "runs", "--out", kind, cwd=work)
        assert proc.returncode == 0, proc.stderr[-2000:]


def test_yaml_module_is_not_used_to_read_files_directly() -> None:
    """Every YAML/JSON read goes through crossrec.safeload (yaml.safe_load / json.load(s) of
    file contents appear nowhere else in the package)."""
    offenders = []
    for path in (ROOT / "src" / "crossrec").rglob("*.py"):
        if path.name == "safeload.py" or path.parent.name == "schemas":
            continue
        for line in path.read_text().splitlines():
            parses = ("yaml.safe_load(", "yaml.load(", "json.load(", "json.loads(")
            if any(n in line for n in parses) and ("read_text" in line or "open(" in line
                                                  or "json.load(" in line):  # fmt: skip
                offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert offenders == [], offenders


# --- damaged data, checkpoints and graphs: one line naming the real culprit ------------------


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("indices", [0, 5, 9], "indices must be < 3"),
        ("indptr", [0, 3], "index pointer size 2 should be 4"),
    ],
)
def test_malformed_tiktok_pickles_are_one_line(
    tmp_path: Path, field: str, value: list, needle: str
) -> None:
    import pickle

    import numpy as np
    import scipy.sparse as sp

    from crossrec.data.sources.tiktok import safe_load_pickle

    bad = sp.csr_matrix(np.eye(3))
    bad.__dict__[field] = np.array(value, dtype=np.int32)
    path = tmp_path / "trnMat.pkl"
    path.write_bytes(pickle.dumps(bad))
    with pytest.raises(DataError, match=needle) as err:
        safe_load_pickle(path)
    assert "not a valid sparse matrix" in str(err.value) and str(path) in str(err.value)


def test_a_batch_that_does_not_fit_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "ml"
    assert crossrec("synth", "--shape", "ml100k", "--out", str(data)).returncode == 0
    proc = crossrec("train", "--backbone", "directau", "--data", str(data), "--train",
                    "epochs=1", "--train", "batch_size=80000", "--out", str(tmp_path / "run"))  # fmt: skip
    one_line(proc, "out of memory at train.batch_size 80000", "lower train.batch_size")


def test_a_user_graph_with_no_columns_is_refused(tiny_dir: Path) -> None:
    import numpy as np

    from crossrec.data.user_graph import CNT_FILE, IDX_FILE, read_user_graph

    np.save(tiny_dir / IDX_FILE, np.zeros((40, 0), dtype=np.int64))
    np.save(tiny_dir / CNT_FILE, np.zeros((40, 0), dtype=np.float32))
    with pytest.raises(DataError, match="top >= 1"):
        read_user_graph(tiny_dir, 40)
    np.save(tiny_dir / IDX_FILE, np.zeros((40, 2), dtype=np.int64))
    np.save(tiny_dir / CNT_FILE, np.full((40, 2), np.nan, dtype=np.float32))
    with pytest.raises(DataError, match=f"{CNT_FILE}: counts must be finite"):
        read_user_graph(tiny_dir, 40)


@pytest.mark.parametrize(
    "tamper",
    ["epoch_as_text", "optimizer_shape", "parameter_nan"],
)
def test_a_tampered_checkpoint_with_matching_digests_is_not_resumed(
    tmp_path: Path, tamper: str
) -> None:
    import torch

    out = tmp_path / "run"
    args = ["train", "--backbone", "lightgcn", "--data", str(TINY), "--train", "topk=[5,20]",
            "--checkpoint-minutes", "0", "--out", str(out)]  # fmt: skip
    assert crossrec(*args, "--train", "epochs=2", "--pause-at-epoch", "1").returncode == 0
    blob = torch.load(out / "checkpoint.pt", weights_only=True)
    if tamper == "epoch_as_text":
        blob["state"]["epoch"] = "1"
    elif tamper == "optimizer_shape":
        state = next(iter(blob["optimizer"]["state"].values()))
        state["exp_avg"] = torch.zeros(3, 3)
    else:
        name = next(iter(blob["backbone"]))
        blob["backbone"][name] = torch.full_like(blob["backbone"][name], float("nan"))
    torch.save(blob, out / "checkpoint.pt")
    proc = crossrec(*args, "--train", "epochs=2", "--resume")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ignored, does not fit this run" in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 2


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        ("0\t1\t0\n99999999999999999999\t2\t0\n", "has id 99999999999999999999, above"),
        (
            "0\t1\t0\n1\t2\t0\n0\t1\t0\n",
            "listed more than once in one split, e.g. user 0 item 1 (line 4)",
        ),
    ],
)
def test_inter_file_ids_and_duplicates(tmp_path: Path, rows: str, needle: str) -> None:
    from crossrec.data.formats import read_inter

    path = tmp_path / "x.inter"
    path.write_text("userID\titemID\tx_label\n" + rows)
    with pytest.raises(DataError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        read_inter(path)


def test_an_empty_modality_list_is_refused(tmp_path: Path) -> None:
    proc = crossrec("train", "--backbone", "lightgcn", "--plugin", "fettle", "--plugin-param",
                    "modalities=[]", "--data", str(TINY), *FAST, "--out", str(tmp_path / "r"))  # fmt: skip
    one_line(proc, "modalities is empty")


def test_a_bad_tables_k_names_tables_k(study: Path, tmp_path: Path) -> None:
    work = _copy(study, tmp_path)
    plan = json.loads((work / "plan.json").read_text())
    plan["tables"]["k"] = [7]
    (work / "plan.json").write_text(json.dumps(plan))
    proc = crossrec("tables", "--plan", "plan.json", "--runs", "runs", "--out", "out", cwd=work)
    one_line(proc, "tables.k 7", "cut-offs [5, 10, 20]")


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    """The checkpoint is renamed into place only when complete: a write that fails (the
    file-size limit standing in for a full disk) leaves the previous checkpoint as it was."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))

    out = tmp_path / "run"
    args = ["train", "--backbone", "lightgcn", "--data", str(TINY), "--train", "topk=[5,20]",
            "--train", "epochs=3", "--checkpoint-minutes", "0", "--out", str(out)]  # fmt: skip
    assert crossrec(*args, "--pause-at-epoch", "1").returncode == 0
    before = (out / "checkpoint.pt").read_bytes()
    assert len(before) > 30_000  # the next checkpoint cannot be written under the limit
    proc = crossrec(*args, "--resume", preexec_fn=limit)
    assert proc.returncode == 2 and "checkpoint.pt" in proc.stderr.strip().splitlines()[-1]
    assert (out / "checkpoint.pt").read_bytes() == before


def test_documents_above_the_size_bound_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from crossrec import safeload

    monkeypatch.setattr(safeload, "MAX_BYTES", 100)
    with pytest.raises(ConfigError, match="larger than"):
        parse_yaml("a: " + "x" * 200, "big.yaml")
    with pytest.raises(DataError, match="larger than"):
        parse_json('"' + "x" * 200 + '"', "big.json")


def test_error_messages_are_bounded() -> None:
    from crossrec.errors import MAX_MESSAGE

    err = ConfigError("train.epochs: expected an integer, got " + repr("9" * 100_000) + "; fix")
    assert len(str(err)) == MAX_MESSAGE and str(err).endswith("; fix") and "…" in str(err)
    assert len(str(DataError(Path("f"), "x" * 10_000))) <= MAX_MESSAGE + 3


def test_gpu_slot_folder_of_another_user_is_refused(tmp_path: Path, monkeypatch) -> None:
    from crossrec.device import gpu_slots

    if os.getuid() != 0:
        pytest.skip("needs root to give a folder to another user")
    folder = tmp_path / "slots"
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)
    with pytest.raises(OutputError, match="owned by uid 65534, not by you"):
        gpu_slots.claim(1, folder)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert gpu_slots.slot_dir().parent == runtime / "crossrec"  # the session's private folder
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert gpu_slots.user_dir().name == f"crossrec-{os.getuid()}"
