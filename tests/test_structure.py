"""The package's shape: the planner, the run module, the report and the workflow's helpers import
no torch; crossrec's import graph has no cycle; a run's code digest covers only what the run
executes, and not its docstrings or comments."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

from crossrec.provenance import PACKAGE, code_text, module_closure

TORCH_FREE = (
    "crossrec.run",
    "crossrec.study",
    "crossrec.study.selection",
    "crossrec.study.runfiles",
    "crossrec.cli",
    "crossrec.workflow_config",
    "crossrec.provenance",
    "crossrec.costs",
    "crossrec.params_schema",
    "crossrec.report",
    "crossrec.report.tables",
    "crossrec.report.figures",
    "crossrec.report.stats",
    "crossrec.data.needs",
)

# A finder that refuses torch. `sys.modules["torch"] = None` blocks it too, but scipy (imported
# by the report) probes `sys.modules["torch"]` for a `Tensor` attribute and fails on None.
BLOCK_TORCH = """
import sys

class NoTorch:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")

sys.meta_path.insert(0, NoTorch)
"""


def test_planner_run_report_and_workflow_helpers_import_no_torch() -> None:
    script = (
        BLOCK_TORCH
        + "\n".join(f"import {m}" for m in TORCH_FREE)
        + """
import yaml
from crossrec.study import open_study
from crossrec.run import RunKey, TrainConfig, RunSpec
config = yaml.safe_load(open("config/config.yaml"))
assert len(open_study(config).runs()) == 33
assert "torch" not in sys.modules
print("ok")
"""
    )
    root = PACKAGE.parents[1]
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_the_cli_imports_neither_torch_nor_pandas_until_a_command_runs() -> None:
    script = (
        BLOCK_TORCH
        + """
import crossrec.cli
crossrec.cli.build_parser()
assert "pandas" not in sys.modules and "torch" not in sys.modules, "imported"
print("ok")
"""
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imported(path: Path, modules: dict[str, Path]) -> set[str]:
    """The crossrec modules a file imports anywhere (top level or inside a function), except
    under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    skip = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for n in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module in modules:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names} & set(modules)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names} & set(modules)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    modules = _modules()
    graph = {name: _imported(path, modules) - {name} for name, path in modules.items()}
    graphlib.TopologicalSorter(graph).prepare()  # CycleError names the cycle
    # the check can fail: a planted cycle is found
    planted = {**graph, "crossrec.run": graph["crossrec.run"] | {"crossrec.study.base"}}
    try:
        graphlib.TopologicalSorter(planted).prepare()
    except graphlib.CycleError:
        pass
    else:
        raise AssertionError("a planted cycle went unnoticed")


def test_a_runs_code_is_what_it_executes() -> None:
    files = {p.relative_to(PACKAGE).as_posix() for p in module_closure(
        ["crossrec.train", "crossrec.models.freedom", "crossrec.align.presets"])}  # fmt: skip
    assert {"train.py", "run.py", "models/freedom.py", "align/plugin.py"} <= files
    for planner_or_glue in ("study/base.py", "provenance.py", "workflow_config.py", "cli/train.py"):
        assert planner_or_glue not in files
    assert not any(f.startswith("report/") for f in files)
    assert "models/lightgcn.py" not in files  # another backbone's code


def test_code_text_ignores_docstrings_comments_and_layout(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    a.write_text('"""Module."""\n\ndef f(x):\n    """Doc."""\n    return x + 1  # one\n')
    b.write_text('"""Other words."""\n# a comment\n\n\ndef f(x):\n    return (x + 1)\n')
    c.write_text('"""Module."""\n\ndef f(x):\n    """Doc."""\n    return 1 + x\n')
    assert code_text(a) == code_text(b)
    assert code_text(a) != code_text(c)


# A run's code (crossrec.train and what it imports) cannot be split or moved without changing
# every run's code digest, which retrains every user's study: such changes ship bundled in a
# release that says so (CHANGELOG). The modules and classes waiting for such a release (none
# since 0.2.0 split the trainer: crossrec.checkpoint, crossrec.run_outputs, crossrec.device).
IN_A_RUNS_CODE: dict[str, int] = {}
MAX_MODULE_LINES, MAX_CLASS_LINES = 500, 350


def test_modules_and_classes_stay_small() -> None:
    big = {}
    for path in PACKAGE.rglob("*.py"):
        name = path.relative_to(PACKAGE).as_posix()
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            big[name] = lines
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    big[f"{name}:{node.name}"] = size
    # the exceptions may shrink, never grow, and no new one appears
    assert set(big) <= set(IN_A_RUNS_CODE), big
    assert all(big[k] <= IN_A_RUNS_CODE[k] for k in big), big


def test_one_place_chooses_the_planner_and_common_smk_stays_short() -> None:
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).as_posix() == "study/__init__.py":
            continue
        text = path.read_text()
        text = text.replace("class StagedStudy(", "").replace("class FlatStudy(", "")
        assert "StagedStudy(" not in text and "FlatStudy(" not in text, path
    rules = PACKAGE.parents[1] / "workflow" / "rules"
    assert len((rules / "common.smk").read_text().splitlines()) <= 200
    for smk in [*rules.glob("*.smk"), PACKAGE.parents[1] / "Snakefile"]:
        text = smk.read_text()
        assert "sys.path" not in text and "lambda " not in text.replace("no lambdas", ""), smk
