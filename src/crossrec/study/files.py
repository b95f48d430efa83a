"""A staged study's files (the bottom layer of :mod:`crossrec.study`; torch-free):

* a **selection** per stage, ``results/selections/<dataset>/<backbone>/tune.yaml`` and
  ``.../<backbone>/<plugin>/align.yaml`` (:class:`Selection`): the selected variant, its point
  and score, and every candidate run with its score. Editing ``variant`` in one (to another
  candidate's) reruns only what depends on it;
* a **rung** per successive-halving rung, ``tune.rung<r>.yaml`` beside the stage's selection
  (:class:`Rung`): every point's progress at the rung's budget and the survivors;
* a **confirmation** (``stages.<stage>.confirm``), ``tune.confirm.yaml`` beside it
  (:class:`Confirm`): the finalists that go on to more seeds before the stage selects.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Self

from crossrec.errors import DataError
from crossrec.safeload import load_yaml, shorten

STAGES = ("tune", "align")
SELECTIONS_DIR = "results/selections"


def selection_path(root: str | Path, stage: str, dataset: str, backbone: str, plugin: str) -> Path:
    """``<root>/<dataset>/<backbone>/tune.yaml`` or ``<root>/<dataset>/<backbone>/<plugin>/align.yaml``."""
    base = Path(root) / dataset / backbone
    return base / "tune.yaml" if stage == "tune" else base / plugin / "align.yaml"


class Record:
    """A stage's YAML file: written atomically from its dataclass fields, read back checked
    (DataError naming the file when its keys are not the record's)."""

    kind: ClassVar[str] = "record"

    def write(self, path: str | Path) -> None:
        """The record as YAML, atomically."""
        from crossrec.io import write_yaml

        write_yaml(path, asdict(self))  # type: ignore[call-overload]

    @classmethod
    def read(cls, path: str | Path) -> Self:
        """A file of this kind (DataError naming it when it is not one)."""
        path = Path(path)
        blob = load_yaml(path, DataError)
        try:
            return cls(**blob)
        except TypeError as err:
            raise DataError(path, f"not a {cls.kind} file ({shorten(str(err))[1:-1]})") from None


@dataclass(frozen=True)
class Selection(Record):
    """One stage's choice for a (dataset, backbone[, plug-in]).

    Attributes:
        stage: ``tune`` or ``align``.
        variant: the selected variant (the run folder's variant name): what the next stage and
            the replicate runs use.
        point: its grid values (for the reader).
        score: its validation (or, with ``selection: mmrec_test``, test) metric.
        metric: ``valid recall@20`` and the like.
        seed: the seed the candidates were trained with.
        candidates: ``{variant, run, score}`` of every compared run, in grid order.
    """

    stage: str
    dataset: str
    backbone: str
    plugin: str
    variant: str
    point: dict[str, Any]
    score: float
    metric: str
    seed: int
    candidates: list[dict[str, Any]] = field(default_factory=list)
    kind: ClassVar[str] = "selection"

    @classmethod
    def read(cls, path: str | Path) -> Selection:
        """A selection file, checked: its keys, and a ``variant`` among its candidates
        (DataError naming the file)."""
        path = Path(path)
        blob = load_yaml(path, DataError)
        names = [f.name for f in fields(cls)]
        if not isinstance(blob, dict) or sorted(blob) != sorted(names):
            raise DataError(path, f"not a selection file (expected the keys {', '.join(names)})")
        sel = cls(**blob)
        if sel.variant not in [c.get("variant") for c in sel.candidates]:
            raise DataError(
                path, f"variant {sel.variant!r} is none of its candidates' (set it to one of them)"
            )
        return sel


def rung_path(
    root: str | Path, stage: str, dataset: str, backbone: str, plugin: str, rung: int
) -> Path:
    """A successive-halving rung's file, beside the stage's selection: ``tune.rung<r>.yaml``."""
    path = selection_path(root, stage, dataset, backbone, plugin)
    return path.with_name(f"{stage}.rung{rung}.yaml")


@dataclass(frozen=True)
class Rung(Record):
    """One successive-halving rung of a stage: every point trained to ``epochs`` (or to its
    early stop), the best ``keep`` by best-so-far validation value go on.

    Attributes:
        candidates: ``{variant, run, best_value, epochs_run, finished}`` of every point.
        survivors: the variants that continue, best first.
    """

    stage: str
    rung: int
    epochs: int
    keep: int
    candidates: list[dict[str, Any]]
    survivors: list[str]
    kind: ClassVar[str] = "rung"


def confirm_path(root: str | Path, stage: str, dataset: str, backbone: str, plugin: str) -> Path:
    """A stage's confirmation file, beside its selection: ``tune.confirm.yaml``."""
    path = selection_path(root, stage, dataset, backbone, plugin)
    return path.with_name(f"{stage}.confirm.yaml")


@dataclass(frozen=True)
class Confirm(Record):
    """The best ``top`` finalists of a stage (by their score at the stage seed), re-run over
    ``seeds`` before the stage selects the best seed mean.

    Attributes:
        candidates: ``{variant, run, score}`` of every finalist, in grid order.
        top: the variants that go on, best first.
        seeds: the extra seeds they are trained with.
    """

    stage: str
    candidates: list[dict[str, Any]]
    top: list[str]
    seeds: list[int]
    kind: ClassVar[str] = "confirmation"
