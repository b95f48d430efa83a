"""A tiny end-to-end ``snakemake`` run on the synthetic fixture (download → prepare → train → table)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from crossrec.report import FIGURES, TABLES

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
pytestmark = pytest.mark.workflow


def _snakemake_in(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """``snakemake --snakefile <checkout>/Snakefile --directory workdir ARGS`` (cwd workdir)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    snakemake = shutil.which("snakemake", path=env["PATH"])
    assert snakemake, "snakemake is not installed next to the test interpreter"
    cmd = [snakemake, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """The workflow on ``workdir/config.yaml`` with 2 cores."""
    return _snakemake_in(
        workdir, "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args
    )


def _config(workdir: Path, tiny: Path) -> None:
    text = (FIXTURES / "workflow_config.yaml").read_text().replace("PLACEHOLDER", str(tiny))
    (workdir / "config.yaml").write_text(text)


def _metrics(workdir: Path, backbone: str, plugin: str, variant: str, seed: int) -> dict:
    run = workdir / "results" / "runs" / "tiny" / backbone / plugin / variant / f"seed{seed}"
    return json.loads((run / "metrics.json").read_text())


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny study (tests/fixtures/workflow_config.yaml) run once for this module's tests."""
    work = tmp_path_factory.mktemp("tiny_study")
    _config(work, FIXTURES / "tiny")
    proc = _snakemake(work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work


def test_tiny_workflow_end_to_end(tiny_study: Path) -> None:
    tmp_path = tiny_study
    tables = tmp_path / "results" / "tables"
    runs = pd.read_csv(tables / "runs.csv")
    # 2 backbones x 2 plug-ins x 2 seeds, LightGCN twice (grid); ablation adds cross_no_cla,
    # the sensitivity study two alpha points (listed per study: cross/seed1 is in two)
    assert len(runs[runs["study"] == "main"]) == 12
    assert set(runs[runs["study"] == "ablation"]["plugin"]) == {"cross", "cross_no_cla"}
    assert sorted(runs[runs["study"] == "sensitivity"]["variant"]) == ["alpha=0.0001", "alpha=0.01"]

    # selection: the grid point with the best mean *validation* Recall@20 over seeds
    selection = pd.read_csv(tables / "selection.csv")
    for plugin in ("none", "cross"):
        means = {
            v: sum(
                _metrics(tmp_path, "lightgcn", plugin, v, s)["valid"]["recall@20"] for s in (1, 2)
            )
            for v in ("reg_weight=0.0001", "reg_weight=1")
        }
        row = selection[(selection["backbone"] == "lightgcn") & (selection["plugin"] == plugin)]
        assert row["variant"].item() == max(sorted(means), key=means.get)
        assert row["score"].item() == pytest.approx(means[row["variant"].item()] / 2, abs=1e-6)

    # the main table's numbers are the mean of the selected runs' test metrics
    main = pd.read_csv(tables / "main.csv")
    for _, row in main.iterrows():
        values = [
            _metrics(tmp_path, row["backbone"], row["plugin"], row["variant"], s)["test"]
            for s in (1, 2)
        ]
        assert row["recall@10"] == pytest.approx(sum(v["recall@10"] for v in values) / 2, abs=1e-6)
        assert row["n_seeds"] == 2
    text = (tables / "main.md").read_text()
    assert "R@5, R@10, N@5, N@10, P@5, P@10: Recall, NDCG, Precision at 5 and 10" in text
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()]
    firsts = {tuple(r[:2]) for r in rows if len(r) > 2}
    assert {("tiny", "LightGCN"), ("tiny", "+CROSS"), ("tiny", "ΔImprov.")} <= firsts
    assert "avg Δ CF" in (tables / "table2.md").read_text()
    assert "+CROSS w/o CLA" in (tables / "ablation.md").read_text()
    tex = (tables / "main.tex").read_text()
    assert tex.startswith("% crossrec: table")
    assert "\\begin{table" in tex and "\\begin{tabular}" in tex and "\\caption{" in tex
    # only what the study has: no dataset with published numbers, so no paper_vs_ours
    assert not (tables / "paper_vs_ours.md").exists()
    plan = json.loads((tmp_path / "results" / "plan.json").read_text())
    assert "paper_vs_ours" not in plan["outputs"]["tables"]
    for name in ("curves", "improvement", "sensitivity", "modality_scores"):
        for ext in ("png", "pdf"):
            assert (tmp_path / "results" / "figures" / f"{name}.{ext}").stat().st_size > 1000

    data = tmp_path / "results" / "data" / "tiny"
    assert (data / "neighbors_k2.npy").is_file() and (data / "neighbors_k3.npy").is_file()
    # the knock-out: FREEDOM with and without CROSS on image only and text only, next to all
    knocked = runs[runs["study"] == "knockout"]
    assert sorted(set(knocked["dataset"])) == ["tiny", "tiny-only-image", "tiny-only-text"]
    assert len(knocked) == 2 * 3 and set(knocked["seed"]) == {1}
    text_only = tmp_path / "results" / "data" / "tiny-only-text"
    assert (text_only / "text_feat.npy").is_file() and not (text_only / "image_feat.npy").exists()
    knockout = pd.read_csv(tables / "knockout.csv")
    assert list(zip(knockout["modalities"], knockout["plugin"], strict=True)) == [
        (m, p) for m in ("all", "image", "text") for p in ("none", "cross")
    ]
    for _, row in knockout.iterrows():
        dataset = "tiny" if row["modalities"] == "all" else f"tiny-only-{row['modalities']}"
        folder = tmp_path / "results" / "runs" / dataset / "freedom" / row["plugin"]
        blob = json.loads((folder / "default" / "seed1" / "metrics.json").read_text())
        assert row["recall@20"] == pytest.approx(blob["test"]["recall@20"], abs=1e-6)
        assert row["n"] == 1
    run = tmp_path / "results" / "runs" / "tiny" / "freedom" / "none" / "default" / "seed1"
    assert {"run.yaml", "metrics.json", "history.csv", "test_per_user.csv"} <= {
        p.name for p in run.iterdir()
    }
    logs = tmp_path / "results" / "logs" / "train" / "tiny" / "freedom" / "none" / "default"
    assert (logs / "seed1.log").is_file()
    bench = tmp_path / "results" / "benchmarks" / "train" / "tiny" / "freedom" / "none"
    assert (bench / "default" / "seed1.tsv").is_file()
    # Nothing left to do afterwards; one run can be forced again on its own.
    assert "Nothing to be done" in _snakemake(tmp_path, "-n").stdout
    target = str((run / "metrics.json").relative_to(tmp_path))
    again = _snakemake(tmp_path, "--forcerun", "train", "-n", target)
    assert again.returncode == 0 and "train" in again.stdout


def test_a_second_config_is_estimated_from_the_first_studys_runs(
    tiny_study: Path, tmp_path: Path
) -> None:
    """`crossrec estimate` answers in hours for a study on a dataset no shipped table knows,
    from the runs the first study trained (crossrec.costs.learned); without them it cannot."""
    second = yaml.safe_load((tiny_study / "config.yaml").read_text())
    second["seeds"] = [5, 6, 7]
    for key in ("ablation", "sensitivity", "knockout"):
        second.pop(key)
    (tmp_path / "second.yaml").write_text(yaml.safe_dump(second))
    cli = [sys.executable, "-m", "crossrec", "estimate", "--config", str(tmp_path / "second.yaml")]

    def total(runs: Path) -> str:
        proc = subprocess.run([*cli, "--runs", str(runs)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return next(line for line in proc.stdout.splitlines() if line.startswith("total"))

    assert total(tmp_path / "none").split()[-1] == "unmeasured"
    learned = total(tiny_study / "results" / "runs")
    assert float(learned.split()[-1]) >= 0 and "no measured row" not in learned


def test_tracking_reaches_every_training_job(tiny_study: Path) -> None:
    """`tracking:` in the config adds the trackers to each train job's command (a resource,
    not a parameter: it changes no result, so it retrains nothing)."""
    proc = _snakemake(tiny_study, "-n", "-p", "--forcerun", "train", "--config",
                      "tracking={backend: [tensorboard, mlflow], dir: track}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    commands = [ln for ln in proc.stdout.splitlines() if "crossrec train " in ln]
    assert commands and all(
        "--track tensorboard --track mlflow --track-dir track --out" in c for c in commands
    )


def test_turning_tracking_on_retrains_nothing(tiny_study: Path) -> None:
    """The config gains `tracking:`: the plan job reruns (its config changed) and writes the
    same run files, so no training job runs and no run's outputs change."""
    runs = tiny_study / "results" / "runs"
    before = {p: p.stat().st_mtime_ns for p in runs.rglob("metrics.json")}
    proc = _snakemake(tiny_study, "--config", "tracking={backend: tensorboard, dir: track}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not re.search(r"^\s*(local)?rule train:", proc.stdout + proc.stderr, re.M)
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("metrics.json")} == before
    assert not (tiny_study / "track").exists()


def _tables_for(study: Path, out: Path, **tables: str) -> list[Path]:
    """`crossrec tables` of ``study``'s runs into ``out`` with plan.json's ``tables`` section
    updated by ``tables`` (venue, float); the .tex files written."""
    plan = json.loads((study / "results" / "plan.json").read_text())
    plan["tables"] |= tables
    out.mkdir(parents=True)
    (out / "plan.json").write_text(json.dumps(plan))
    results = study / "results"
    from crossrec.cli import main  # in-process: the command's code without a second start-up

    code = main(["tables", "--plan", str(out / "plan.json"), "--runs", str(results / "runs"),
                 "--selections", str(results / "selections"), "--data", str(results / "data"),
                 "--out", str(out / "tables")])  # fmt: skip
    assert code in (0, None)
    return sorted((out / "tables").glob("*.tex"))


@pytest.mark.parametrize(("venue", "columns"), [("acm", 2), ("ieee", 2), ("article", 1)])
def test_every_table_fits_its_float_in_pdflatex(
    tiny_study: Path, tmp_path: Path, venue: str, columns: int
) -> None:
    """Every generated .tex compiles with pdflatex (-halt-on-error) on the venue's page (two
    columns of its widths, or one), no table overflows its float (no Overfull \\hbox over
    1 pt), the float is the narrowest the table fits, and crossrec's width estimate is within
    3 % of pdflatex's measured width; the runs dump has no .tex."""
    from latex_check import compile_tables, estimate, pdflatex

    from crossrec.report.latex import VENUES

    if pdflatex() is None:
        pytest.skip("no pdflatex installed (.ci/run installs texlive-latex-base where it can)")
    tables = _tables_for(tiny_study, tmp_path / venue, venue=venue)
    shown = json.loads((tiny_study / "results" / "plan.json").read_text())["outputs"]["tables"]
    assert sorted(t.stem for t in tables) == sorted(set(shown) - {"runs"})
    done = compile_tables(tables, tmp_path, venue, columns)
    errors = [line for line in done.proc.stdout.splitlines() if line.startswith("!")]
    assert done.proc.returncode == 0, errors
    assert set(done.overfull) == {t.stem for t in tables}
    column, text = VENUES[venue]
    for tex in tables:
        assert max(done.overfull[tex.stem], default=0.0) <= 1.0, (tex.name, done.overfull)
        source = tex.read_text()
        measured = done.width[tex.stem]
        if "resizebox" not in source:
            assert abs(estimate(tex) - measured) <= 0.03 * measured + 1, (tex.name, measured)
        if "\\begin{table*}" in source:  # table* only where a column is too narrow
            assert measured > column * 0.97 and columns == 2, (tex.name, measured)
        assert measured <= (column if "\\begin{table}" in source else text) or (
            "resizebox" in source
        ), (tex.name, measured)


def test_table_float_follows_the_config(tiny_study: Path, tmp_path: Path) -> None:
    """`tables.float: table*` puts every table in a table*; `table` keeps each in a column."""
    wide = _tables_for(tiny_study, tmp_path / "wide", float="table*")
    assert all("\\begin{table*}" in t.read_text() for t in wide)
    narrow = _tables_for(tiny_study, tmp_path / "narrow", float="table")
    assert not any("table*" in t.read_text() for t in narrow)


def test_report_shows_each_output_once_without_autolinks(tiny_study: Path) -> None:
    """`snakemake --report`: no caption turned into a mailto: link (Recall@20), each table and
    figure once (its csv / png), modality scores filed under the main study."""
    import zipfile

    proc = _snakemake(tiny_study, "--report", "report.zip")
    assert proc.returncode == 0, proc.stderr[-3000:]
    with zipfile.ZipFile(tiny_study / "report.zip") as archive:
        names = archive.namelist()
        html = "".join(
            archive.read(n).decode("utf-8", "replace") for n in names if n.endswith(".html")
        )
    assert html and "mailto:" not in html
    for name in (t for t in TABLES if t != "paper_vs_ours"):  # the study has no paper dataset
        shown = [n for n in names if re.search(rf"/{name}\.(md|csv|tex)$", n)]
        assert [Path(n).suffix for n in shown] == [".csv"], (name, shown)
    for name in FIGURES:
        shown = [n for n in names if re.search(rf"/{name}\.(png|pdf)$", n)]
        assert [Path(n).suffix for n in shown] == [".png"], (name, shown)
    assert [n for n in names if n.endswith("/config.yaml")]  # the config the study ran with


def test_bad_dataset_fails_without_outputs(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(FIXTURES / "tiny", bad)
    (bad / "image_feat.npy").write_bytes(b"not a numpy file")
    _config(tmp_path, bad)
    proc = _snakemake(tmp_path)
    assert proc.returncode != 0
    log = (tmp_path / "results" / "logs" / "download" / "tiny.log").read_text()
    assert "image_feat.npy" in log and log.count("\n") == 1
    assert not (tmp_path / "resources" / "tiny").exists()
    assert not (tmp_path / "results" / "tables").exists()


@pytest.mark.parametrize(
    ("configfile", "extra"),
    [
        ("config/config.yaml", []),
        # config/paper.yaml: its dry run is the SLURM profile's below (one DAG of 1,465 jobs)
        ("config/paper_lite.yaml", []),
        ("config/ml100k_full.yaml", []),
        ("config/ml100k_backbones.yaml", []),
        ("config/smoke.yaml", []),
        ("config/ml100k_tuning.yaml", []),
        ("config/paper.yaml", ["--executor", "slurm", "-j", "100"]),
    ],
)
def test_dry_runs(configfile: str, extra: list[str], tmp_path: Path) -> None:
    """Every shipped config dry-runs, in an empty working directory: never the checkout's own
    results/ or .snakemake/ (the README's study may have filled them)."""
    profile = ["--workflow-profile", str(ROOT / "profiles" / "slurm")] if "slurm" in extra else []
    # the smoke config's folder path is relative to the working directory (the checkout's root)
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    proc = _snakemake_in(tmp_path, "-n", "--configfile", str(ROOT / configfile), *profile, *extra)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "train" in proc.stdout and "tables" in proc.stdout
    from crossrec.costs import CostTable, estimate
    from crossrec.study import open_study
    from crossrec.workflow_config import checked

    config = checked(yaml.safe_load((ROOT / configfile).read_text()))
    stats = proc.stdout.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    counts = dict(line.split() for line in stats.splitlines()[3:] if line.strip())
    trained = int(counts.get("train", 0)) + int(counts.get("train_rung", 0))
    if "stages" in config:  # before any selection: every dataset's and backbone's tune runs
        tune = estimate(config, CostTable.load("cpu"))["stages"]["tune"]["runs"]
        assert trained == len(open_study(config).runs("tune")) == tune > 0
    else:  # the DAG trains exactly the runs the planner and the estimate count
        planned = len(set(open_study(config).runs()))
        assert trained == planned == estimate(config, CostTable.load("cpu"))["total"]["jobs"]
    if "slurm" in extra:  # train's threads are the CPUs asked for (resources.train_threads)
        train_cmds = [line for line in proc.stdout.splitlines() if "crossrec train" in line]
        assert train_cmds and all("--threads 4 " in line for line in train_cmds)


def test_slurm_profile_requests() -> None:
    """The profile asks for nothing a rule must declare (partitions, GPUs, CPUs: the rules
    declare them, so `--default-resources` on the command line cannot take them away), packs
    no job groups (the SLURM plugin runs a group's jobs one after another), and the rules that
    must not be submitted are declared local."""
    import re

    import yaml

    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert "set-resources" not in profile and "set-threads" not in profile
    assert "group-components" not in profile and "groups" not in profile
    assert set(profile["default-resources"]) <= {"runtime", "mem_mb", "slurm_account"}
    text = "".join((ROOT / "workflow" / "rules" / f).read_text() for f in ("train.smk", "data.smk"))
    assert "group:" not in text
    block = re.search(r"^localrules:\n((?:    \w+,\n)+)", (ROOT / "Snakefile").read_text(), re.M)
    assert block is not None
    local = set(re.findall(r"(\w+),", block.group(1)))
    assert local == {"all", "data", "runs", "download", "plan", "tables", "figures", "select_tune",
                     "stage_tune", "select_align", "stage_align", "select_rung_tune",
                     "select_rung_align", "confirm_tune", "confirm_align", "study", "config",
                     "knockout_data"}  # fmt: skip


def test_lint(tmp_path: Path) -> None:
    proc = _snakemake_in(tmp_path, "--lint", "--configfile", str(ROOT / "config" / "config.yaml"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


HARD_KILL_CONFIG = """
datasets:
  tiny: {source: folder, path: PLACEHOLDER}
backbones:
  lightgcn: {n_layers: 1}
plugins:
  none: {}
seeds: [1]
train: {epochs: 400, patience: 1000, batch_size: 64, topk: [5, 10, 20], device: cpu}
tables: {k: [5]}
resources: {train_threads: 1, checkpoint_minutes: 0}
"""


def test_hard_killed_workflow_recovers_with_one_command(tmp_path: Path) -> None:
    """kill -9 of snakemake and its jobs mid-training, then the README's recovery command
    (``snakemake --unlock && snakemake ...``): the killed run resumes from its checkpoint and
    the study completes. The workflow profile beside the Snakefile is loaded (rerun-incomplete)."""
    import signal
    import time

    (tmp_path / "config.yaml").write_text(
        HARD_KILL_CONFIG.replace("PLACEHOLDER", str(FIXTURES / "tiny"))
    )
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    base = [
        shutil.which("snakemake", path=env["PATH"]),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--configfile",
        str(tmp_path / "config.yaml"),
    ]
    proc = subprocess.Popen(
        [*base, "--cores", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    run = tmp_path / "results" / "runs" / "tiny" / "lightgcn" / "none" / "default" / "seed1"
    deadline = time.monotonic() + 240
    while not (run / "checkpoint.pt").exists() and time.monotonic() < deadline:
        assert proc.poll() is None, "the workflow ended before it could be killed"
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (run / "checkpoint.pt").exists() and not (run / "metrics.json").exists()

    plain = _snakemake_in(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "--cores", "1")
    assert plain.returncode != 0 and "--unlock" in plain.stderr  # a stale lock, as documented
    unlock = _snakemake_in(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    again = _snakemake_in(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "--cores", "1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Using workflow specific profile" in again.stderr
    log = tmp_path / "results" / "logs" / "train" / "tiny" / "lightgcn" / "none" / "default"
    assert "resumed from" in (log / "seed1.log").read_text()
    assert (run / "metrics.json").is_file() and not (run / "checkpoint.pt").exists()
    assert (tmp_path / "results" / "tables" / "main.csv").is_file()


def test_config_overrides_from_the_command_line(tmp_path: Path) -> None:
    """``--config`` values arrive as strings from Snakemake; they are coerced by the schema."""
    _config(tmp_path, FIXTURES / "tiny")
    ok = _snakemake(tmp_path, "-n", "--config", "seeds=[1]", "train={epochs: 5, topk: [5, 10, 20]}")
    assert ok.returncode == 0, ok.stderr[-3000:]
    bad = _snakemake(tmp_path, "-n", "--config", "backbones={freedom: {dropuot: 0.1}}")
    assert bad.returncode == 2
    errors = [line for line in bad.stderr.splitlines() if "error" in line.lower()]
    assert errors == [
        f"crossrec: error: {tmp_path / 'config.yaml'} (with --config): backbones.freedom: "
        "unknown key(s) 'dropuot' (allowed: emb_size, feat_embed_dim, knn_k, n_mm_layers, "
        "n_ui_layers, dropout, reg_weight, mm_weights)"
    ]


CODE_CHANGE_CONFIG = """
datasets:
  tiny: {source: folder, path: PLACEHOLDER}
backbones:
  lightgcn: {n_layers: 1}
  freedom: {knn_k: 4}
plugins:
  none: {}
item_knn_k: [4]
seeds: [1]
train: {epochs: 1, batch_size: 128, topk: [5, 10, 20], device: cpu}
tables: {k: [5]}
"""


def _train_jobs(dry_run_stdout: str) -> list[str]:
    """The wildcards line of every train job in a dry run's listing (train jobs are listed
    inside their job group, indented)."""
    jobs, in_train = [], False
    for line in map(str.strip, dry_run_stdout.splitlines()):
        if line.startswith(("rule ", "localrule ")):
            in_train = line.startswith("rule train:")
        elif in_train and line.startswith("wildcards:"):
            jobs.append(line)
    return jobs


def _trained(work: Path) -> dict[str, int]:
    """Run folder -> modification time of its metrics.json (what a real run retrained)."""
    return {
        str(f.parent.relative_to(work)): f.stat().st_mtime_ns
        for f in (work / "results" / "runs").rglob("metrics.json")
    }


def test_editing_a_model_reruns_exactly_its_runs(tmp_path: Path) -> None:
    """The train rule carries the digest of the code each run executes (crossrec.provenance):
    one changed line in FREEDOM's encode reruns the FREEDOM runs and nothing else; a docstring
    or comment edit of the trainer, an edit of the planner or of report code reruns no training;
    editing a run's run.yaml, or the config's entry of one backbone, reruns that run only."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("Snakefile", "workflow", "profiles", "src", "envs"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, repo / name)
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(
        CODE_CHANGE_CONFIG.replace("PLACEHOLDER", str(FIXTURES / "tiny"))
    )
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(repo / "src")  # the copy's code, for the DAG and for the jobs
    base = [shutil.which("snakemake", path=env["PATH"]), "--snakefile", str(repo / "Snakefile"),
            "--directory", str(work), "--configfile", str(work / "config.yaml"), "--cores", "2"]  # fmt: skip

    def snakemake(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*base, *args], capture_output=True, text=True, env=env, cwd=work)

    def edit(path: Path, old: str, new: str) -> None:
        text = path.read_text()
        assert text.count(old) == 1, old
        path.write_text(text.replace(old, new))

    first = snakemake()
    assert first.returncode == 0, first.stderr[-3000:]
    assert _train_jobs(snakemake("-n").stdout) == []
    src = repo / "src" / "crossrec"
    # docstring and comment edits of the trainer: no digest changes
    edit(src / "train.py", '"""The single trainer', '"""The one and only trainer')
    edit(src / "train.py", "    def step(self", "    # a comment\n    def step(self")
    assert _train_jobs(snakemake("-n").stdout) == []
    # the planner, the digest code and the report are not what a run executes
    for module in ("study/staged.py", "provenance.py", "report/tables.py"):
        (src / module).write_text(
            (src / module).read_text() + "\n\ndef _added() -> None:\n    pass\n"
        )
    assert _train_jobs(snakemake("-n").stdout) == []
    # one changed line of FREEDOM's code: exactly FREEDOM's runs
    model = src / "models" / "freedom.py"
    edit(model, "item=item + h, modal=modal", "item=h + item, modal=modal")
    jobs = _train_jobs(snakemake("-n").stdout)
    assert len(jobs) == 1 and "backbone=freedom" in jobs[0], jobs
    edit(model, "item=h + item, modal=modal", "item=item + h, modal=modal")
    assert _train_jobs(snakemake("-n").stdout) == []
    metrics = json.loads(
        (work / "results/runs/tiny/freedom/none/default/seed1/metrics.json").read_text()
    )
    assert len(metrics["provenance"]["run_code_sha256_16"]) == 16
    assert metrics["provenance"]["source"]["sha256_16"]

    # The run file is the run, every default filled in: editing one reruns that run only, with
    # what the file says.
    run_file = work / "results/runs/tiny/lightgcn/none/default/seed1/run.yaml"
    run = yaml.safe_load(run_file.read_text())
    assert run["backbone_params"]["n_layers"] == 1 and "reg_weight" in run["backbone_params"]
    assert run["train"]["epochs"] == 1 and run["train"]["patience"] == 20
    assert not (run_file.parent / "config.yaml").exists()  # one definition, no near-copy
    run_file.write_text(run_file.read_text().replace("  epochs: 1\n", "  epochs: 2\n"))
    jobs = _train_jobs(snakemake("-n").stdout)
    assert len(jobs) == 1 and "backbone=lightgcn" in jobs[0], jobs
    assert snakemake().returncode == 0
    history = work / "results/runs/tiny/lightgcn/none/default/seed1/history.csv"
    assert len(pd.read_csv(history)) == 2
    # A config change: the plan checkpoint rewrites exactly the run files it changes (the hand
    # edit above stays), and only those runs retrain (a dry run lists every run as waiting on
    # the checkpoint; after `--until plan` it lists exactly the changed one).
    before = _trained(work)
    config = (work / "config.yaml").read_text()
    (work / "config.yaml").write_text(
        config.replace("freedom: {knn_k: 4}", "freedom: {knn_k: 4, dropout: 0.9}")
    )
    assert snakemake("--until", "plan").returncode == 0
    jobs = _train_jobs(snakemake("-n").stdout)
    assert len(jobs) == 1 and "backbone=freedom" in jobs[0], jobs
    assert snakemake().returncode == 0
    after = _trained(work)
    changed = sorted(k for k in after if after[k] != before[k])
    assert changed == ["results/runs/tiny/freedom/none/default/seed1"], changed
    # a run folder removed by hand while the plan is current: one line saying how to restore it
    shutil.rmtree(work / "results/runs/tiny/freedom/none/default/seed1")
    gone = snakemake("-n")
    assert gone.returncode != 0 and "--forcerun plan" in gone.stdout + gone.stderr


MODULE_SNAKEFILE = """
configfile: "config.yaml"


module crossrec:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from crossrec as crossrec_*
"""


def test_usable_as_a_snakemake_module(tmp_path: Path) -> None:
    """Another project imports the workflow as a module with its own config: the DAG is the
    study's, and a rule runs (the plan) with the outer config."""
    _config(tmp_path, FIXTURES / "tiny")
    outer = tmp_path / "Snakefile"
    outer.write_text(MODULE_SNAKEFILE.format(snakefile=ROOT / "Snakefile"))
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    snakemake = shutil.which("snakemake", path=env["PATH"])
    base = [snakemake, "--snakefile", str(outer), "--cores", "1"]
    dry = subprocess.run([*base, "-n"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr[-3000:]
    # the fixture's 15 main, ablation and sensitivity runs and 4 knock-out runs
    assert re.search(r"crossrec_train\s+19\b", dry.stdout), dry.stdout[-2000:]
    plan = subprocess.run(
        [*base, "results/plan.json"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert plan.returncode == 0, plan.stderr[-3000:]
    runs = json.loads((tmp_path / "results" / "plan.json").read_text())["runs"]
    assert {r["backbone"] for r in runs} == {"lightgcn", "freedom"}


ONE_RUN = f"""
datasets:
  tiny: {{source: folder, path: {FIXTURES / "tiny"}}}
backbones:
  lightgcn: {{n_layers: 1}}
plugins:
  none: {{}}
seeds: [1, 2]
train: {{epochs: EPOCHS, patience: 100000, batch_size: 64, topk: [5, 10, 20], device: cpu}}
"""


def test_dry_run_rejects_a_run_file_the_train_job_would_reject(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(ONE_RUN.replace("EPOCHS", "2"))
    assert _snakemake(tmp_path, "--until", "plan").returncode == 0
    run = tmp_path / "results" / "runs" / "tiny" / "lightgcn" / "none" / "default" / "seed1"
    text = (run / "run.yaml").read_text()
    for edit, needle in (
        (text.replace("n_layers: 1", "n_layers: two"), "backbone_params.n_layers"),
        (text.replace("seed: 1", "seed: 2"), "defines tiny/lightgcn/none/default/seed2"),
        (text + "epochs: 3\n", "run.yaml"),
    ):
        (run / "run.yaml").write_text(edit)
        proc = _snakemake(tmp_path, "-n")
        errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert errors == [errors[0]] and str(Path("seed1") / "run.yaml") in errors[0], errors
        assert needle in errors[0], errors[0]


def test_snakemake_refuses_a_config_with_a_repeated_key(tmp_path: Path) -> None:
    """Snakemake's own YAML loader keeps the last of two equal keys; the Snakefile re-reads the
    config files through crossrec.safeload and stops in one line."""
    text = ONE_RUN.replace("EPOCHS", "2") + "seeds: [3]\n"
    (tmp_path / "config.yaml").write_text(text)
    proc = _snakemake(tmp_path, "-n")
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-2000:]
    assert "config.yaml: line 10: duplicate key 'seeds'" in errors[0]


def test_killing_the_main_snakemake_leaves_no_training_job(tmp_path: Path) -> None:
    """SIGKILL to the snakemake process alone (not its group): its training jobs notice
    (`crossrec train --stop-with $PPID`), checkpoint and exit."""
    import signal
    import time

    (tmp_path / "config.yaml").write_text(ONE_RUN.replace("EPOCHS", "100000"))
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    cmd = [shutil.which("snakemake", path=env["PATH"]), "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"),
           "--cores", "2", "runs"]  # fmt: skip
    main = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    logs = tmp_path / "results" / "logs" / "train" / "tiny" / "lightgcn" / "none" / "default"

    def trainers() -> list[int]:
        found = []
        for proc in Path("/proc").iterdir():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            try:
                here = os.readlink(proc / "cwd") == str(tmp_path)
            except OSError:
                continue
            if here and b"train" in argv and any(a.endswith(b"crossrec") for a in argv):
                found.append(int(proc.name))
        return found

    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all((logs / f"seed{s}.log").is_file() and "epoch" in (logs / f"seed{s}.log")
                   .read_text() for s in (1, 2)):  # fmt: skip
                break
            time.sleep(0.5)
        assert len(trainers()) == 2, "both training jobs should be running"
        os.kill(main.pid, signal.SIGKILL)  # the main process only, not its process group
        main.wait()
        deadline = time.monotonic() + 30
        while trainers() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert trainers() == []
        for seed in (1, 2):
            assert "stopped by SIGTERM" in (logs / f"seed{seed}.log").read_text()
    finally:
        os.killpg(main.pid, signal.SIGKILL) if main.poll() is None else None
        for pid in trainers():
            os.kill(pid, signal.SIGKILL)


def test_data_mistakes_end_the_dry_run_in_one_line(tiny_study: Path, tmp_path: Path) -> None:
    """Where the data is prepared, a cut-off above its item count ends `snakemake -n` with one
    line naming train.topk (it would fail every training job after training); a folder source
    whose path is missing, a file or holds no .inter file ends it too. Nothing is written."""
    before = sorted(p.relative_to(tiny_study) for p in (tiny_study / "results").rglob("*"))
    proc = _snakemake(tiny_study, "-n", "--config", "train={topk: [5, 10, 20, 50]}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert "train.topk: 50 exceeds the 30 items of dataset tiny" in line
    assert len([ln for ln in proc.stderr.splitlines() if "crossrec: error" in ln]) == 1
    missing = tmp_path / "missing"
    dataset = f"datasets={{tiny: {{source: folder, path: {missing}}}}}"
    proc = _snakemake(tiny_study, "-n", "--config", dataset)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"datasets.tiny.path '{missing}': no such folder" in proc.stderr.splitlines()[-1]
    # a file, or a folder without an .inter file: the same check, in-process
    from crossrec.errors import ConfigError
    from crossrec.workflow_config import check_data

    (tmp_path / "a_file").write_text("x")
    (tmp_path / "empty").mkdir()
    for path, problem in ((tmp_path / "a_file", "not a folder"),
                          (tmp_path / "empty", "no .inter file")):  # fmt: skip
        config = {"datasets": {"tiny": {"source": "folder", "path": str(path)}}, "train": {}}
        with pytest.raises(ConfigError, match=f"datasets.tiny.path '{path}': {problem}"):
            check_data(config, None)
    after = sorted(p.relative_to(tiny_study) for p in (tiny_study / "results").rglob("*"))
    assert after == before


def test_plan_checks_the_cut_offs_once_the_data_is_prepared(tmp_path: Path) -> None:
    """A first run with a cut-off above the item count: the data is prepared, then the plan
    job stops with one line, before any training job."""
    _config(tmp_path, FIXTURES / "tiny")
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text().replace("topk: [5, 10, 20]", "topk: [5, 10, 20, 50]"))
    proc = _snakemake(tmp_path)
    assert proc.returncode != 0
    assert (tmp_path / "results" / "data" / "tiny" / "meta.json").is_file()
    log = (tmp_path / "results" / "logs" / "plan.log").read_text().strip().splitlines()
    assert len(log) == 1 and "train.topk: 50 exceeds the 30 items of dataset tiny" in log[0]
    assert not (tmp_path / "results" / "runs").exists()
    assert not re.search(r"^\s*(local)?rule train:", proc.stdout + proc.stderr, re.M)


def test_the_catalogs_test_config_dry_runs(tmp_path: Path) -> None:
    """`.test/config/config.yaml` (the Snakemake catalog's CI runs the workflow with
    --directory .test) is the smoke study with paths from .test/, and its dry run plans it."""
    smoke = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    test = yaml.safe_load((ROOT / ".test" / "config" / "config.yaml").read_text())
    assert test["datasets"]["tiny"].pop("path") == "../tests/fixtures/tiny"
    smoke["datasets"]["tiny"].pop("path")
    assert test == smoke
    shutil.copytree(ROOT / ".test", tmp_path / ".test")  # not the checkout's: hermetic
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    work = tmp_path / ".test"
    proc = _snakemake_in(work, "--configfile", str(work / "config" / "config.yaml"), "-n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "prepare" in proc.stdout and "plan" in proc.stdout


def test_a_study_without_cutoff_20_runs_end_to_end(tmp_path: Path) -> None:
    """``train.topk: [5, 10]`` with ``valid_metric: recall@10`` (a legitimate study): every job
    succeeds, and the tables and figures are at its cut-offs — selected, tested, marked and
    captioned on Recall@10; a one-seed knock-out tests each run's own per-user file."""
    config = {
        "datasets": {"tiny": {"source": "folder", "path": str(FIXTURES / "tiny")}},
        "backbones": {"lightgcn": {"n_layers": 1}},
        "plugins": {"none": {}, "fettle": {}},
        "knockout": {"modalities": ["image", "text"], "backbones": ["lightgcn"], "seeds": [1]},
        "seeds": [1, 2],
        "train": {"epochs": 2, "batch_size": 64, "topk": [5, 10], "valid_metric": "recall@10"},
        "tables": {"k": [5, 10]},
        "resources": {"train_threads": 1},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = _snakemake(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    tables = tmp_path / "results" / "tables"
    main = pd.read_csv(tables / "main.csv")
    assert {"recall@5", "recall@10", "ndcg@10"} <= set(main.columns)
    assert not any("@20" in c for c in main.columns)
    text = (tables / "main.md").read_text()
    assert "† test R@10 differs" in text and "R@20" not in text
    assert "validation Recall@10" in (tables / "selection.tex").read_text()
    assert "(test Recall@10)" in (tables / "significance.tex").read_text()
    selection = pd.read_csv(tables / "selection.csv")
    runs = pd.read_csv(tables / "runs.csv")
    means = runs[runs["study"] == "main"].groupby(["backbone", "plugin"])
    assert selection["score"].tolist() == pytest.approx(
        [means["valid_recall@10"].mean()[("lightgcn", p)] for p in selection["plugin"]]
    )
    knock = pd.read_csv(tables / "knockout.csv")
    assert {"recall@10", "ndcg@10"} <= set(knock.columns) and knock["p_all"].notna().any()
    assert (pd.read_csv(tables / "table2.csv").columns[3:] == ["recall@5", "recall@10",
                                                               "ndcg@5", "ndcg@10"]).all()  # fmt: skip
    for name in ("curves", "improvement"):
        assert (tmp_path / "results" / "figures" / f"{name}.pdf").stat().st_size > 0
