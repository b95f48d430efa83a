"""What runs, in which order, chosen how: the study a workflow config describes.

* :func:`open_study` — the one place a planner is chosen: :class:`~crossrec.study.flat.
  FlatStudy` (every run known from the config) or :class:`~crossrec.study.staged.StagedStudy`
  (``stages:``: tune → align → replicate, the later runs known after each selection).
* :mod:`~crossrec.study.grid` grid values → named variants; :mod:`~crossrec.study.resolve`
  every variant typed once; :mod:`~crossrec.study.halving` rung budgets and sizes;
  :mod:`~crossrec.study.selection` how a stage selects; :mod:`~crossrec.study.files` the
  selection and rung files; :mod:`~crossrec.study.runfiles` the runs' ``run.yaml`` files.

Layers, bottom up (no cycle): files, grid, pins, halving → resolve → base → flat, staged →
selection, runfiles. Torch-free at import; typing a variant imports the registries.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crossrec.study.base import Planner
from crossrec.study.files import STAGES
from crossrec.study.flat import FlatStudy
from crossrec.study.staged import StagedStudy

__all__ = ["STAGES", "FlatStudy", "Planner", "StagedStudy", "open_study"]


def open_study(config: Mapping[str, Any], selections: str | Path | None = None) -> Planner:
    """The planner of a validated workflow config: staged when it has ``stages:``, else flat;
    ``selections``: the folder of a staged study's selection files (the runs they determine
    are planned too)."""
    folder = None if selections is None else Path(selections)
    if config.get("stages") is not None:
        return StagedStudy(config, folder)
    return FlatStudy(config, folder)
