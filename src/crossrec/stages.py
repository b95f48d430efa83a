"""A staged study, as the papers ran theirs: tune each backbone, align the plug-ins at the
selected point, replicate the selected points over the seeds (docs/workflow.md, "Staged studies").

With ``stages:`` in the config, a list value of a backbone parameter is the backbone's own grid
and a list value of a plug-in parameter the plug-in's grid; per (dataset, backbone):

1. **tune** — the backbone's grid alone (plug-in ``none``), one seed (``stages.tune.seed``, by
   default the first of ``seeds``); the point with the best validation metric (the trainer's
   ``valid_metric``; test with ``selection: mmrec_test``) is selected.
2. **align** — each plug-in's grid at the backbone's selected point, one seed
   (``stages.align.seed``); one point selected per plug-in.
3. **replicate** — the selected (backbone, plug-in) points, ``none`` included, over every seed:
   the main study that the tables, significance tests and figures read. The seed a point was
   selected on is the same run, trained once.

Each selection is a small file, ``results/selections/<dataset>/<backbone>/tune.yaml`` and
``.../<backbone>/<plugin>/align.yaml`` (:class:`Selection`): the selected variant, its point and
score, and every candidate run with its score. Editing ``variant`` in one (to another
candidate's) reruns only what depends on it. A ``pin:`` entry of the config fixes a point and
skips its stage. Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crossrec.errors import ConfigError, DataError
from crossrec.run import RunKey
from crossrec.safeload import load_yaml, shorten

STAGES = ("tune", "align")
SELECTIONS_DIR = "results/selections"


def selection_path(root: str | Path, stage: str, dataset: str, backbone: str, plugin: str) -> Path:
    """``<root>/<dataset>/<backbone>/tune.yaml`` or ``<root>/<dataset>/<backbone>/<plugin>/align.yaml``."""
    base = Path(root) / dataset / backbone
    return base / "tune.yaml" if stage == "tune" else base / plugin / "align.yaml"


@dataclass(frozen=True)
class Selection:
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

    def write(self, path: str | Path) -> None:
        """The selection as YAML, atomically."""
        from crossrec.io import write_yaml

        write_yaml(path, asdict(self))

    @classmethod
    def read(cls, path: str | Path) -> Selection:
        """A selection file, checked: its keys, and a ``variant`` among its candidates
        (DataError naming the file)."""
        path = Path(path)
        blob = load_yaml(path, DataError)
        names = [f for f in cls.__dataclass_fields__]
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
class Rung:
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

    def write(self, path: str | Path) -> None:
        """The rung as YAML, atomically."""
        from crossrec.io import write_yaml

        write_yaml(path, asdict(self))

    @classmethod
    def read(cls, path: str | Path) -> Rung:
        """A rung file (DataError naming it when it is not one)."""
        path = Path(path)
        blob = load_yaml(path, DataError)
        try:
            return cls(**blob)
        except TypeError as err:
            raise DataError(path, f"not a rung file ({shorten(str(err))[1:-1]})") from None


def survivors(scores: Sequence[tuple[str, float]], eta: int) -> list[str]:
    """The best ``ceil(n / eta)`` of ``(variant, best-so-far score)`` pairs, best first, ties
    in the given (grid) order; NaN scores last (successive halving's cut)."""
    keep = math.ceil(len(scores) / eta)
    order = sorted(
        range(len(scores)),
        key=lambda i: (
            not math.isfinite(scores[i][1]),
            -scores[i][1] if math.isfinite(scores[i][1]) else 0,
            i,
        ),
    )
    return [scores[i][0] for i in order[:keep]]


def best(candidates: Sequence[tuple[str, float]]) -> tuple[str, float]:
    """The first (variant, score) with the highest score, in the given (grid) order; a NaN score
    never wins."""
    chosen: tuple[str, float] | None = None
    for variant, score in candidates:
        if math.isfinite(score) and (chosen is None or score > chosen[1]):
            chosen = (variant, score)
    if chosen is None:
        raise ValueError("no candidate with a finite score")
    return chosen


@dataclass(frozen=True)
class Pin:
    """A ``pin:`` entry: a fixed point of a backbone (no ``plugin``) or of a plug-in on a
    backbone, for one dataset or (no ``dataset``) for all."""

    backbone: str
    params: dict[str, Any]
    plugin: str | None = None
    dataset: str | None = None

    def applies(self, dataset: str, backbone: str, plugin: str | None) -> bool:
        """Whether the pin fixes this (dataset, backbone, plug-in or None for the backbone)."""
        return (
            self.backbone == backbone and self.plugin == plugin and self.dataset in (None, dataset)
        )


def pins(config: Mapping[str, Any]) -> list[Pin]:
    """The config's ``pin:`` entries (ConfigError for one naming an unknown backbone or plug-in,
    or giving a grid)."""
    out = []
    for i, entry in enumerate(config.get("pin") or []):
        pin = Pin(**entry)
        where = f"pin[{i}]"
        if pin.backbone not in config["backbones"]:
            raise ConfigError(f"{where}: backbone {pin.backbone!r} is not in `backbones`")
        if pin.plugin is not None and (pin.plugin not in config["plugins"] or pin.plugin == "none"):
            raise ConfigError(f"{where}: plugin {pin.plugin!r} is not a configured plug-in")
        if pin.dataset is not None and pin.dataset not in config["datasets"]:
            raise ConfigError(f"{where}: dataset {pin.dataset!r} is not in `datasets`")
        lists = [k for k, v in pin.params.items() if isinstance(v, list)]
        if lists:
            raise ConfigError(f"{where}.params.{lists[0]}: a pinned point has one value")
        out.append(pin)
    return out


def run_label(key: RunKey) -> str:
    """A run's folder below the runs root (how a selection file names its candidates)."""
    return key.path()
