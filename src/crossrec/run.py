"""One training run, without torch: its identity and folder, its definition and its files.

* **Identity** — :class:`RunKey` (dataset, backbone, plug-in, variant, seed) and the one mapping
  from a run to its folder below the runs root, :data:`RUN_PATH`
  (``<dataset>/<backbone>/<plugin>/<variant>/seed<seed>``).
* **Definition** — :class:`RunSpec`: the identity, the backbone's and plug-in's parameters and
  the trainer settings (:class:`TrainConfig`). Its plain-data form is the run folder's one
  definition file, ``run.yaml`` (:func:`write_run_file`, :func:`read_run_file`): the planner
  writes it with every default filled in, ``crossrec train --run`` reads it, and editing it
  reruns that one run.
* **Results** — the files a run folder holds (:data:`RUN_FILES`) and :func:`read_metrics`, the
  checked reader of ``metrics.json`` (schema :data:`METRICS_SCHEMA_VERSION`).

The planner (:mod:`crossrec.study`), the report and the workflow import this module; the
trainer (:mod:`crossrec.train`) builds on it. It imports neither torch nor any of them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crossrec.errors import ConfigError, CrossrecError, DataError
from crossrec.io import atomic_open
from crossrec.outputs import claim_dir, only_names
from crossrec.safeload import load_yaml, parse_yaml, read_json
from crossrec.strict import NonNegFloat, NonNegInt, PosFloat, PosInt, Seed, check_value, from_dict

RUN_PATH = "{dataset}/{backbone}/{plugin}/{variant}/seed{seed}"
"""A run's folder below the runs root, as a pattern of its identity: :meth:`RunKey.path` fills
it in, the workflow's rules use it as their wildcard pattern — one mapping from run to folder."""
IDENTITY = ("dataset", "backbone", "plugin", "variant", "seed")
"""The keys that name a run (:class:`RunKey`'s fields; ``metrics.json``'s ``identity``)."""
RUN_FILE = "run.yaml"
RUN_FILES = (
    RUN_FILE,
    "metrics.json",
    "history.csv",
    "test_per_user.csv",
    "checkpoint.pt",
    "config.yaml",  # written beside run.yaml by earlier development versions; such folders stay ours
    *(f"rung{r}.json" for r in range(32)),  # a successive-halving rung's progress
    ".crossrec.lock",  # crossrec.outputs.LOCK: one writer at a time
)
"""What a run folder holds; a folder of only these is an earlier crossrec run."""
METRICS_SCHEMA_VERSION = 1
METRICS = ("recall", "ndcg", "precision", "map")
DATASET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
"""Dataset names are identifiers: they become folder names under ``resources/`` and ``results/``."""
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_dataset_name(name: str, where: str = "--dataset") -> str:
    """``name`` if it is an identifier (:data:`DATASET_NAME`), else ConfigError naming ``where``
    (a path such as ``../x`` or ``/tmp/x`` would write outside the output folder)."""
    if not isinstance(name, str) or not DATASET_NAME.fullmatch(name):
        raise ConfigError(
            f"{where}: {name!r} is not a dataset name (a letter, then up to 63 letters, digits, "
            "_ or -; no paths)"
        )
    return name


def check_device_name(name: object) -> None:
    """ConfigError unless ``name`` is ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    if not isinstance(name, str) or not _DEVICE.fullmatch(name):
        raise ConfigError(f"train.device: unknown device {name!r} (auto, cpu, cuda, cuda:N or mps)")


def metric_names(ks: Sequence[int]) -> list[str]:
    """``recall@5, ndcg@5, ...`` in a fixed order (metric-major, then K)."""
    return [f"{m}@{k}" for m in METRICS for k in ks]


@dataclass(frozen=True, order=True)
class RunKey:
    """One training run's identity (the run folder's path components)."""

    dataset: str
    backbone: str
    plugin: str
    variant: str
    seed: int

    def path(self) -> str:
        """The run folder below the runs root, :data:`RUN_PATH` filled in."""
        return RUN_PATH.format(**{k: getattr(self, k) for k in IDENTITY})


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and evaluation settings (MMRec defaults).

    Attributes:
        epochs: the most epochs trained.
        patience: evaluations in a row without a better ``valid_metric`` that are tolerated;
            the next one stops training.
        lr: Adam's learning rate.
        weight_decay: Adam's weight decay (on every parameter).
        batch_size: training triples per step.
        eval_batch_size: users scored at once in evaluation.
        topk: cut-offs of the ranking metrics.
        valid_metric: the validation metric that selects the best epoch (``recall@20``, ...).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        compile: torch.compile the plug-in's losses with bucketed static shapes (no
            recompilation after the first epoch; CUDA graphs on a GPU; eager if compilation
            fails); off by default (docs/performance.md, "The compiled step").
    """

    epochs: PosInt = 1000
    patience: NonNegInt = 20
    lr: PosFloat = 1e-3
    weight_decay: NonNegFloat = 0.0
    batch_size: PosInt = 2048
    eval_batch_size: PosInt = 4096
    topk: tuple[PosInt, ...] = (5, 10, 20, 50)
    valid_metric: str = "recall@20"
    device: str = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        if not self.topk or any(isinstance(k, bool) or int(k) < 1 for k in self.topk):
            raise ConfigError(f"train.topk: cut-offs must be integers >= 1, got {list(self.topk)}")
        check_device_name(self.device)
        if self.valid_metric not in metric_names(self.topk):
            raise ConfigError(
                f"train.valid_metric {self.valid_metric!r} is not computed with topk "
                f"{list(self.topk)} (choose one of {', '.join(metric_names(self.topk))})"
            )


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines one training run (and nothing about the machine)."""

    dataset: str
    backbone: str
    plugin: str = "none"
    variant: str = "default"
    seed: Seed = 999
    backbone_params: dict[str, Any] = field(default_factory=dict)
    plugin_params: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        check_value(self.seed, Seed, "seed")

    @classmethod
    def from_dict(cls, blob: Any, where: str = "run") -> RunSpec:  # noqa: ANN401
        """A run from its plain-data form (:meth:`to_dict`, a ``run.yaml``): keys, types and
        the trainer settings checked by :func:`crossrec.strict.from_dict`, the backbone's and
        plug-in's parameters when the run is built (ConfigError naming ``where``)."""
        if not isinstance(blob, Mapping):
            raise ConfigError(f"{where}: expected a mapping of run keys, got {type(blob).__name__}")
        train = from_dict(TrainConfig, blob.get("train"), f"{where}.train")
        return from_dict(cls, {**blob, "train": train}, where)

    @property
    def key(self) -> RunKey:
        """The run's identity."""
        return RunKey(**{k: getattr(self, k) for k in IDENTITY})

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (tuples as lists), as written to ``run.yaml``."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_dict` (first 16 hex digits)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _planned_line(run: RunSpec) -> str:
    return f"# planned by crossrec from the study's config: {run.config_hash()}\n"


def train_settings(config: Mapping[str, Any]) -> TrainConfig:
    """The trainer settings of a study config's ``train:`` section, defaults filled in
    (ConfigError naming ``train.<key>``)."""
    return from_dict(TrainConfig, config.get("train") or {}, "train")


def write_run_file(run: RunSpec, path: str | Path, planned: bool = False) -> bool:
    """Write ``run``'s plain-data form to ``path`` (YAML, key order kept, atomically), claiming
    its folder as a crossrec run folder (OutputError for a folder crossrec did not make).

    The file is left untouched — its modification time too, so nothing downstream reruns — when
    it already holds the same run, or, with ``planned`` (the planner's files), when it was
    planned from the same definition: its first line records the definition's hash, so a file
    edited by hand keeps the edit until the config changes that run. Returns whether it was
    written."""
    path = Path(path)
    plain = run.to_dict()
    head = _planned_line(run) if planned else ""
    if path.is_file():
        try:
            text = path.read_text()
            if (planned and text.startswith(head)) or (
                not planned and parse_yaml(text, str(path)) == plain
            ):
                return False
        except (CrossrecError, UnicodeDecodeError):
            pass  # unreadable: rewritten below (the folder is checked first)
    claim_dir(path.parent, "run", only_names(RUN_FILES))
    with atomic_open(path) as fh:
        fh.write(head + yaml.safe_dump(plain, sort_keys=False))
    return True


def read_run_file(path: str | Path) -> RunSpec:
    """The run a ``run.yaml`` defines (ConfigError naming the file for bad YAML or keys)."""
    return RunSpec.from_dict(load_yaml(path, ConfigError), str(path))


def read_metrics(path: str | Path) -> dict[str, Any]:
    """Load and check one ``metrics.json`` (DataError naming the file)."""
    from crossrec.schemas import check_document

    path = Path(path)
    blob = read_json(path, "did the run fail?")
    if isinstance(blob, dict) and blob.get("schema") != METRICS_SCHEMA_VERSION:
        raise DataError(path, f"schema {blob.get('schema')!r}, expected {METRICS_SCHEMA_VERSION}")
    check_document(blob, "metrics", path)
    return blob
