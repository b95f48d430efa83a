"""Which code produced a result: digests of crossrec's source, per run and per package.

* :func:`run_code_digest` — sha256 over the code that one run executes: the trainer and
  everything it imports, the backbone's module and the plug-in's module, each with its crossrec
  imports followed transitively. Not followed: the registration packages (``crossrec.models``,
  ``crossrec.align``), which import every model only to register it, so editing FREEDOM changes
  the digest of FREEDOM's runs and of no other run; this module, which only records the
  digest; and ``crossrec/__init__.py``, which holds the version number. Each file enters as its syntax tree without docstrings (comments and layout are not
  in the tree), so a comment, docstring or formatting edit changes no digest. The workflow's
  train rule carries it as a ``params:`` value: Snakemake reruns a run whose code changed
  (its default ``--rerun-triggers`` include ``params``).
* :func:`package_digest` — sha256 over every ``.py`` file of the installed package, and the git
  commit when the source is a git checkout (``-dirty`` with uncommitted changes), recorded in
  each ``metrics.json``.

Torch-free and cheap (the import graph is read with :mod:`ast`), so the Snakefile can call it.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import subprocess
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
NOT_FOLLOWED = frozenset({"crossrec", "crossrec.models", "crossrec.align", "crossrec.provenance"})
"""Registration-only packages, the digest code itself, and the package's ``__init__`` (its
version number, which ``metrics.json`` records: a release that changes no run's code
retrains nothing): not part of any run's code."""


def _file_of(module: str) -> Path | None:
    """The source file of a ``crossrec.*`` module name (package → its ``__init__.py``); for a
    module of another package (a backbone or plug-in added through an entry point), its file
    as found by the import system (its parent packages are imported to find it)."""
    if module.split(".")[0] != "crossrec":
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            return None
        origin = getattr(spec, "origin", None)
        return Path(origin) if origin and origin.endswith(".py") else None
    parts = module.split(".")[1:]
    base = PACKAGE.joinpath(*parts)
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


@cache
def _imports(path: Path) -> tuple[str, ...]:
    """The ``crossrec`` modules a source file imports (``from crossrec.x import y`` → x, and
    x.y when that is a module itself)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("crossrec"):
            found.append(node.module)
            for alias in node.names:
                if _file_of(f"{node.module}.{alias.name}") is not None:
                    found.append(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("crossrec")]
    return tuple(found)


def module_closure(modules: list[str]) -> list[Path]:
    """The source files of ``modules`` and of every crossrec module they import, transitively,
    without the registration packages (:data:`NOT_FOLLOWED`: adding a model to them changes no
    existing run); sorted."""
    seen: set[Path] = set()
    todo = list(modules)
    while todo:
        module = todo.pop()
        path = _file_of(module)
        if path is None or path in seen or module in NOT_FOLLOWED:
            continue
        seen.add(path)
        todo.extend(_imports(path))
    return sorted(seen)


def _without_docstrings(tree: ast.Module) -> ast.Module:
    """``tree`` with the docstring of the module and of every class and function removed."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def code_text(path: Path) -> str:
    """What of a source file a digest covers: its syntax tree without docstrings and without
    positions (``ast.dump``), so comments, docstrings and layout do not count."""
    tree = _without_docstrings(ast.parse(path.read_text()))
    return ast.dump(tree, include_attributes=False)


def _digest(files: list[Path], code_only: bool = False) -> str:
    h = hashlib.sha256()
    for path in files:
        name = path.relative_to(PACKAGE).as_posix() if path.is_relative_to(PACKAGE) else path.name
        h.update(name.encode() + b"\0")
        h.update((code_text(path).encode() if code_only else path.read_bytes()) + b"\0")
    return h.hexdigest()[:16]


@cache
def run_code_digest(backbone_module: str, plugin_module: str) -> str:
    """Digest of the code behind one run (module docstring); e.g.
    ``run_code_digest("crossrec.models.freedom", "crossrec.align.presets")``."""
    return _digest(module_closure(["crossrec.train", backbone_module, plugin_module]), True)


@cache
def package_digest() -> dict[str, str | None]:
    """``{"sha256_16": <all .py files of the package>, "git": <commit[-dirty]> or None}``."""
    files = sorted(PACKAGE.rglob("*.py"))
    git = None
    try:
        root = subprocess.run(
            ["git", "-C", str(PACKAGE), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if root.returncode == 0:
            dirty = subprocess.run(
                ["git", "-C", str(PACKAGE), "status", "--porcelain", "--", str(PACKAGE)],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            git = root.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        git = None
    return {"sha256_16": _digest(files), "git": git}
