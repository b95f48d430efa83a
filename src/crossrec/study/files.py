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

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from crossrec.errors import DataError
from crossrec.safeload import load_yaml
from crossrec.study.grid import format_value

STAGES = ("tune", "align")
SELECTIONS_DIR = "results/selections"


def selection_path(root: str | Path, stage: str, dataset: str, backbone: str, plugin: str) -> Path:
    """``<root>/<dataset>/<backbone>/tune.yaml`` or ``<root>/<dataset>/<backbone>/<plugin>/align.yaml``."""
    base = Path(root) / dataset / backbone
    return base / "tune.yaml" if stage == "tune" else base / plugin / "align.yaml"


class Record:
    """A stage's YAML file: written atomically from its dataclass fields, read back checked
    against its JSON Schema (``crossrec/schemas/<kind>.schema.yaml``: keys, types, ranges) and
    :meth:`check` (what ties the file to its path and its parts to each other); DataError
    naming the file and the key otherwise."""

    kind: ClassVar[str] = "record"

    def write(self, path: str | Path) -> None:
        """The record as YAML, atomically."""
        from crossrec.io import write_yaml

        write_yaml(path, asdict(self))  # type: ignore[call-overload]

    @classmethod
    def read(cls, path: str | Path) -> Self:
        """A file of this kind (DataError naming it when it is not one)."""
        from crossrec.schemas import check_document

        path = Path(path)
        blob = load_yaml(path, DataError)
        check_document(blob, cls.kind, path)
        record = cls(**blob)
        record.check(path)
        return record

    def check(self, path: Path) -> None:
        """DataError naming ``path`` when the record's parts disagree (a record kind's own
        rules; the schema has checked the types)."""


def identity_of(path: Path) -> dict[str, str] | None:
    """What a selection file's path says it is (:func:`selection_path`'s layout):
    ``.../<dataset>/<backbone>/tune.yaml`` → stage tune, plug-in none;
    ``.../<dataset>/<backbone>/<plugin>/align.yaml`` → stage align; the same for the stage's
    rung and confirmation files beside it (``tune.rung0.yaml``, ``align.confirm.yaml``). None
    for a file elsewhere (a copy a user reads)."""
    stage = path.name.split(".")[0]
    parts = path.parts
    if stage == "tune" and len(parts) >= 3:
        return {"stage": stage, "dataset": parts[-3], "backbone": parts[-2], "plugin": "none"}
    if stage == "align" and len(parts) >= 4:
        return {"stage": stage, "dataset": parts[-4], "backbone": parts[-3], "plugin": parts[-2]}
    return None


def check_candidates(path: Path, stage: str, candidates: list[dict[str, Any]]) -> None:
    """DataError naming ``path`` unless the candidates are distinct variants of its stage's
    (dataset, backbone, plug-in), each ``run`` the run folder of its variant."""
    seen: set[str] = set()
    ident = identity_of(path)
    for c in candidates:
        if c["variant"] in seen:
            raise DataError(path, f"candidate {c['variant']!r} is listed twice")
        seen.add(c["variant"])
        run = c["run"].split("/")
        if len(run) != 5 or run[3] != c["variant"]:
            raise DataError(path, f"candidate {c['variant']!r}: run {c['run']!r} is not its run")
        if ident is not None and stage == ident["stage"]:
            where = [ident["dataset"], ident["backbone"], ident["plugin"]]
            if run[:3] != where:
                raise DataError(
                    path, f"candidate run {c['run']!r} is not of {'/'.join(where)} (this file's)"
                )


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

    def check(self, path: Path) -> None:
        """The file is its path's (stage, dataset, backbone, plug-in); ``variant`` is one of
        its candidates and ``point`` that variant's values; the candidates are its stage's
        (:func:`check_candidates`), trained with ``seed``; ``score`` a finite number."""
        ident = identity_of(path)
        for key, value in (ident or {}).items():
            if getattr(self, key) != value:
                raise DataError(
                    path, f"{key} {getattr(self, key)!r}, but its path is {key} {value!r}'s "
                    "(a selection file names the stage and run group of its folder)",
                )  # fmt: skip
        if self.variant not in [c["variant"] for c in self.candidates]:
            raise DataError(
                path, f"variant {self.variant!r} is none of its candidates' (set it to one of them)"
            )
        check_candidates(path, self.stage, self.candidates)
        for c in self.candidates:
            if not c["run"].endswith(f"/seed{self.seed}"):
                raise DataError(path, f"candidate run {c['run']!r} is not of seed {self.seed}")
        if not math.isfinite(self.score):
            raise DataError(path, f"score {self.score}: not a finite number")
        values = variant_values(self.variant)
        for key, value in self.point.items():
            if values.get(key) != format_value(value):
                raise DataError(
                    path, f"point {key}={format_value(value)} is not variant {self.variant!r}'s "
                    f"({key}={values.get(key, 'unset')}): set variant and point to one candidate's",
                )  # fmt: skip


def variant_values(variant: str) -> dict[str, str]:
    """The grid values a variant name spells (``alpha=0.001+beta=0.1`` → ``{alpha: "0.001",
    beta: "0.1"}``, as :func:`crossrec.study.grid.format_value` writes them)."""
    return dict(
        part.split("=", 1) for part in variant.split("+") if "=" in part
    )  # fmt: skip


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

    def check(self, path: Path) -> None:
        """The file is its path's stage and rung (``tune.rung<r>.yaml``); its candidates are
        its stage's (:func:`check_candidates`), none beyond the rung's budget; ``keep``
        survivors, each a candidate."""
        stage, _, rest = path.name.partition(".rung")
        if path.name.endswith(".yaml") and rest[:-5].isdigit():
            if self.stage != stage or self.rung != int(rest[:-5]):
                raise DataError(
                    path, f"stage {self.stage!r}, rung {self.rung}: this file is {stage}'s "
                    f"rung {rest[:-5]}",
                )  # fmt: skip
        check_candidates(path, self.stage, self.candidates)
        names = [c["variant"] for c in self.candidates]
        for c in self.candidates:
            if c["epochs_run"] > self.epochs:
                raise DataError(
                    path, f"candidate {c['variant']!r}: epochs_run {c['epochs_run']} exceeds "
                    f"the rung's {self.epochs}",
                )  # fmt: skip
        for name in self.survivors:
            if name not in names:
                raise DataError(path, f"survivor {name!r} is none of its candidates")
        if len(self.survivors) != self.keep:
            raise DataError(path, f"{len(self.survivors)} survivors, but keep is {self.keep}")


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

    def check(self, path: Path) -> None:
        """Its candidates are its stage's; each ``top`` variant one of them."""
        check_candidates(path, self.stage, self.candidates)
        names = [c["variant"] for c in self.candidates]
        for name in self.top:
            if name not in names:
                raise DataError(path, f"top {name!r} is none of its candidates")
