"""Digests of the code behind a run (crossrec.provenance)."""

from __future__ import annotations

from crossrec.provenance import PACKAGE, module_closure, package_digest, run_code_digest


def test_closure_follows_imports_but_not_the_registries() -> None:
    names = {
        p.relative_to(PACKAGE).as_posix()
        for p in module_closure(
            ["crossrec.train", "crossrec.models.freedom", "crossrec.align.none"]
        )
    }
    assert {"train.py", "models/freedom.py", "models/base.py", "graph.py", "align/none.py"} <= names
    assert "models/lightgcn.py" not in names  # another backbone: not part of this run
    assert "models/__init__.py" not in names and "align/__init__.py" not in names
    assert not any(n.startswith("report/") for n in names)  # reporting code trains nothing


def test_run_digest_depends_on_the_models() -> None:
    a = run_code_digest("crossrec.models.freedom", "crossrec.align.none")
    b = run_code_digest("crossrec.models.lightgcn", "crossrec.align.none")
    c = run_code_digest("crossrec.models.freedom", "crossrec.align.presets")
    assert len({a, b, c}) == 3 and all(len(d) == 16 for d in (a, b, c))
    assert run_code_digest("crossrec.models.freedom", "crossrec.align.none") == a


def test_package_digest() -> None:
    info = package_digest()
    assert len(info["sha256_16"]) == 16
    assert info["git"] is None or len(info["git"].split("-")[0]) == 40


def test_the_version_number_is_in_no_runs_code() -> None:
    """A release that changes no run's code retrains nothing: ``crossrec/__init__.py`` (the
    version) is outside the trainer's closure, while the trainer's own modules are in it."""
    closure = module_closure(["crossrec.train"])
    assert PACKAGE / "__init__.py" not in closure
    assert {PACKAGE / "checkpoint.py", PACKAGE / "run_outputs.py", PACKAGE / "epochs.py"} <= set(
        closure
    )
