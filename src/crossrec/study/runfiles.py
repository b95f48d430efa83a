"""The planner's run files: each planned run's ``run.yaml`` written from its typed definition
(:func:`write_run_files`), and checked before its train job (:func:`check_run_file`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from crossrec.errors import ConfigError
from crossrec.run import RUN_FILE, RUN_FILES

if TYPE_CHECKING:
    from crossrec.study.base import Planner


def write_run_files(
    study: Planner, root: str | Path, step: tuple[str, ...] = ("plan",)
) -> tuple[int, int]:
    """``<root>/<run folder>/run.yaml`` of every run ``step`` determines
    (:meth:`Planner.runs_determined_by`; :func:`crossrec.run.write_run_file`): every folder is
    checked before the first file is written, and files planned from the same definition are
    left untouched, hand edits included (so their runs do not rerun). Returns (runs, files
    written)."""
    from crossrec.errors import OutputError
    from crossrec.outputs import check_replaceable, only_names
    from crossrec.run import write_run_file

    root = Path(root)
    keys = study.runs_determined_by(step)
    for key in keys:
        check_replaceable(root / key.path(), only_names(RUN_FILES), flag="--runs")
        path = root / key.path() / RUN_FILE
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise OutputError(f"{path}: not a regular file; refusing to replace it (no run "
                              "file written)")  # fmt: skip
    written = sum(
        write_run_file(study.run_definition(key), root / key.path() / RUN_FILE, planned=True)
        for key in keys
    )
    return len(keys), written


def check_run_file(path: str | Path, expected: str) -> None:
    """What ``crossrec train --run PATH --expect EXPECTED`` checks before it trains, at dry-run
    time: the file's YAML (crossrec.safeload), its keys and types (RunSpec), the run it names
    and its backbone's and plug-in's parameters (their ``Params``). ConfigError naming the
    file."""
    from crossrec.align import PLUGINS
    from crossrec.models import BACKBONES
    from crossrec.run import read_run_file

    run = read_run_file(path)
    if run.key.path() != expected:
        raise ConfigError(
            f"{path}: defines {run.key.path()}, not {expected} (its identity keys name its "
            "folder: edit parameters and trainer settings only)"
        )
    BACKBONES.resolve(run.backbone, run.backbone_params, f"{path}: backbone_params")
    PLUGINS.resolve(run.plugin, run.plugin_params, f"{path}: plugin_params")
