"""The experiment matrix: a workflow config → the list of training runs and their parameters.

Three studies share one config (``config/README.md`` documents every key):

* **main** — ``datasets × backbones × plugins × variants × seeds`` minus ``exclude``. A list value
  of a backbone or plug-in hyper-parameter is a grid: one variant per point of the product of all
  lists of that (backbone, plug-in) pair. Without lists the variant is ``default``.
* **ablation** — ``ablation.backbones × ablation.presets × seeds`` (the ``cross_*`` presets).
* **sensitivity** — on one backbone + plug-in, each ``sensitivity.params`` entry swept one at a
  time around the plug-in's configured values (one variant per value, named ``param=value``).

Both studies need scalar parameters: ``backbone_params`` / ``plugin_params`` in their section
override the configured ones (e.g. to fix one point of a grid).

Variant names are short, stable slugs of the grid values (``alpha=0.001+beta=0.0001``); the run
folder's ``run.yaml`` records the full resolved parameters (:meth:`Experiment.write_run_files`).
This module does not import torch at import time, so planning the DAG stays fast; resolving
defaults and checking parameters import the registries.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crossrec.errors import ConfigError
from crossrec.run import (
    RUN_FILE,
    RUN_FILES,
    RunKey,
    RunSpec,
    check_dataset_name,
    train_settings,
)

if TYPE_CHECKING:
    from pathlib import Path

    from crossrec.data.needs import DataNeeds

DEFAULT_VARIANT = "default"
STUDIES = ("main", "ablation", "sensitivity")
SELECTIONS = ("validation", "mmrec_test")
_SLUG_OK = re.compile(r"[A-Za-z0-9_.=+\-]+")


@dataclass(frozen=True)
class Variant:
    """The resolved hyper-parameters of one (backbone, plug-in, variant name)."""

    backbone_params: dict[str, Any]
    plugin_params: dict[str, Any]
    grid: dict[str, Any] = field(default_factory=dict)  # the values that name this variant


def format_value(value: Any) -> str:  # noqa: ANN401
    """A grid value in a variant name: floats in shortest ``g`` form, others as ``str``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def variant_name(grid: Mapping[str, Any]) -> str:
    """``default`` for no grid values, else ``key=value`` joined by ``+`` in sorted key order."""
    if not grid:
        return DEFAULT_VARIANT
    name = "+".join(f"{k}={format_value(grid[k])}" for k in sorted(grid))
    if not _SLUG_OK.fullmatch(name):
        raise ConfigError(f"grid values {dict(grid)} do not make a valid variant name ({name!r})")
    return name


def _split_grid(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    fixed = {k: v for k, v in params.items() if not isinstance(v, list)}
    lists = {k: list(v) for k, v in params.items() if isinstance(v, list)}
    for key, values in lists.items():
        if not values:
            raise ConfigError(f"hyper-parameter {key!r}: an empty list is not a grid")
    return fixed, lists


def grid_variants(
    backbone_params: Mapping[str, Any], plugin_params: Mapping[str, Any]
) -> dict[str, Variant]:
    """Variant name → :class:`Variant` for every point of the pair's grid (product of lists)."""
    b_fixed, b_lists = _split_grid(backbone_params)
    p_fixed, p_lists = _split_grid(plugin_params)
    shared = sorted(set(b_lists) & set(p_lists))
    if shared:
        raise ConfigError(f"grid key {shared[0]!r} appears in both the backbone and the plug-in")
    keys = [("b", k) for k in sorted(b_lists)] + [("p", k) for k in sorted(p_lists)]
    pools = [b_lists[k] if side == "b" else p_lists[k] for side, k in keys]
    out: dict[str, Variant] = {}
    for values in itertools.product(*pools):
        b, p = dict(b_fixed), dict(p_fixed)
        grid = {}
        for (side, key), value in zip(keys, values, strict=True):
            (b if side == "b" else p)[key] = value
            grid[key] = value
        out[variant_name(grid)] = Variant(b, p, grid)
    return out


def _excluded(rules: Sequence[Mapping[str, Any]], dataset: str, backbone: str, plugin: str) -> bool:
    here = {"dataset": dataset, "backbone": backbone, "plugin": plugin}
    return any(all(here.get(k) == v for k, v in rule.items()) for rule in rules)


class Experiment:
    """The runs of a validated workflow config and the parameters of each variant."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.selection = config.get("selection", "validation")
        if self.selection not in SELECTIONS:
            raise ConfigError(f"selection {self.selection!r}: choose one of {SELECTIONS}")
        self._variants: dict[tuple[str, str, str], Variant] = {}
        self._origin: dict[tuple[str, str, str], str] = {}  # variant -> config key it came from
        self._studies: dict[str, list[RunKey]] = {s: [] for s in STUDIES}
        self._sensitivity: list[tuple[str, Any, RunKey]] = []  # (param, value, run)
        datasets = list(config["datasets"])
        for name in datasets:
            check_dataset_name(name, f"datasets.{name}")
        only = config.get("run_datasets")
        if only:
            unknown = sorted(set(only) - set(datasets))
            if unknown:
                raise ConfigError(f"run_datasets names unknown dataset {unknown[0]!r}")
            datasets = [d for d in datasets if d in only]
        self.datasets = datasets
        seeds = [int(s) for s in config["seeds"]]
        exclude = config.get("exclude", []) or []
        for backbone, b_params in config["backbones"].items():
            for plugin, p_params in config["plugins"].items():
                for name, var in grid_variants(b_params or {}, p_params or {}).items():
                    self._add_variant(backbone, plugin, name, var, f"backbones.{backbone}")
                    for dataset, seed in itertools.product(datasets, seeds):
                        if not _excluded(exclude, dataset, backbone, plugin):
                            key = RunKey(dataset, backbone, plugin, name, seed)
                            self._studies["main"].append(key)
        self._plan_ablation(config.get("ablation"), datasets, seeds)
        self._plan_sensitivity(config.get("sensitivity"), datasets, seeds)

    def _add_variant(
        self, backbone: str, plugin: str, name: str, var: Variant, origin: str
    ) -> None:
        key = (backbone, plugin, name)
        self._origin.setdefault(key, origin)
        old = self._variants.get(key)
        if old is not None and (old.backbone_params, old.plugin_params) != (
            var.backbone_params,
            var.plugin_params,
        ):
            raise ConfigError(
                f"variant {backbone}/{plugin}/{name} is defined twice with different parameters"
            )
        self._variants[key] = var

    def _base(
        self,
        backbone: str,
        plugin: str,
        where: str,
        backbone_override: Mapping[str, Any] | None = None,
        plugin_override: Mapping[str, Any] | None = None,
    ) -> tuple[dict, dict]:
        """Scalar backbone and plug-in parameters of a study (configured values, overridden)."""
        if backbone not in self.config["backbones"]:
            raise ConfigError(f"{where}: backbone {backbone!r} is not in `backbones`")
        b = {**(self.config["backbones"][backbone] or {}), **(backbone_override or {})}
        p = {**(self.config["plugins"].get(plugin) or {}), **(plugin_override or {})}
        for name, value in {**b, **p}.items():
            if isinstance(value, list):
                raise ConfigError(
                    f"{where}: {backbone}/{plugin} parameter {name!r} is a grid; fix one value "
                    f"with `{where}.backbone_params` / `{where}.plugin_params`"
                )
        return b, p

    def _plan_ablation(self, spec: Mapping[str, Any] | None, datasets: list, seeds: list) -> None:
        if not spec:
            return
        seeds = [int(s) for s in spec.get("seeds", seeds)]
        for backbone in spec["backbones"]:
            for preset in spec["presets"]:
                b, p = self._base(
                    backbone,
                    preset,
                    "ablation",
                    (spec.get("backbone_params") or {}).get(backbone),
                    spec.get("plugin_params"),
                )
                self._add_variant(backbone, preset, DEFAULT_VARIANT, Variant(b, p), "ablation")
                for dataset, seed in itertools.product(datasets, seeds):
                    key = RunKey(dataset, backbone, preset, DEFAULT_VARIANT, seed)
                    self._studies["ablation"].append(key)

    def _plan_sensitivity(
        self, spec: Mapping[str, Any] | None, datasets: list, seeds: list
    ) -> None:
        if not spec:
            return
        backbone, plugin = spec["backbone"], spec["plugin"]
        seeds = [int(s) for s in spec.get("seeds", seeds)]
        b, p = self._base(
            backbone,
            plugin,
            "sensitivity",
            spec.get("backbone_params"),
            spec.get("plugin_params"),
        )
        for param, values in spec["params"].items():
            for value in values:
                # the configured value itself is the main study's run: reuse it
                same = (
                    p.get(param) == value and (backbone, plugin, DEFAULT_VARIANT) in self._variants
                )
                name = DEFAULT_VARIANT if same else variant_name({param: value})
                var = Variant(b, {**p, param: value}, {})
                self._add_variant(backbone, plugin, name, var, f"sensitivity.params.{param}")
                for dataset, seed in itertools.product(datasets, seeds):
                    key = RunKey(dataset, backbone, plugin, name, seed)
                    self._studies["sensitivity"].append(key)
                    self._sensitivity.append((param, value, key))

    def validate(self) -> None:
        """Check what the schema cannot (imports the registries, hence torch): backbone and
        plug-in names, every planned variant's parameters against its ``Params`` dataclass
        (types, choices, ranges), the ``train`` section, and ``tables.k`` ⊆ ``train.topk``.

        Raises:
            ConfigError: ``"<config key>: <problem>"`` for the first problem found.
        """
        train = train_settings(self.config)
        for key in self._variants:
            self._typed(key)
        for k in (self.config.get("tables") or {}).get("k", []):
            if k not in train.topk:
                raise ConfigError(
                    f"tables.k: {k} is not one of the computed cut-offs train.topk "
                    f"{list(train.topk)}"
                )

    def runs(self, study: str | None = None) -> list[RunKey]:
        """The runs of one study, or of all studies (each run once), in config order."""
        if study is not None:
            return list(dict.fromkeys(self._studies[study]))
        return list(dict.fromkeys(k for keys in self._studies.values() for k in keys))

    def variant(self, backbone: str, plugin: str, name: str) -> Variant:
        """The parameters of a planned variant (ConfigError for an unplanned one)."""
        try:
            return self._variants[(backbone, plugin, name)]
        except KeyError:
            raise ConfigError(f"no planned variant {backbone}/{plugin}/{name}") from None

    def _typed(self, key: tuple[str, str, str]) -> list[tuple[type, Any]]:
        """``[(backbone class, its typed Params), (plug-in class, its typed Params)]`` of a
        planned variant (backbone, plug-in, name); ConfigError naming the config key of an
        unknown name or a bad parameter."""
        from crossrec.align import PLUGINS
        from crossrec.config import from_dict
        from crossrec.models import BACKBONES

        backbone, plugin, _ = key
        var, origin = self._variants[key], self._origin[key]
        p_where = f"plugins.{plugin}"
        if origin == "ablation":
            p_where = f"ablation.presets.{plugin}"
        elif origin.startswith("sensitivity"):
            p_where = f"sensitivity.plugin.{plugin}"
        typed = []
        for registry, which, params, where in (
            (BACKBONES, backbone, var.backbone_params, f"backbones.{backbone}"),
            (PLUGINS, plugin, var.plugin_params, p_where),
        ):
            if which not in registry:
                raise ConfigError(
                    f"{where}: unknown {registry.kind} {which!r} (available: {', '.join(registry)})"
                )
            cls = registry[which]
            typed.append((cls, from_dict(cls.Params, params, where)))
        return typed

    def data_needs(self) -> DataNeeds:
        """What ``prepare`` must write for every planned run: the union of the needs each planned
        backbone and plug-in declares for its resolved parameters (``data_needs``), plus the
        config's own ``neighbors_k`` and ``item_knn_k`` lists."""
        from crossrec.data.needs import DataNeeds

        needs = DataNeeds(
            neighbors_k=frozenset(int(k) for k in self.config.get("neighbors_k", [3])),
            item_knn_k=frozenset(int(k) for k in self.config.get("item_knn_k", [10])),
        )
        for key in {(k.backbone, k.plugin, k.variant) for k in self.runs()}:
            for cls, params in self._typed(key):
                needs = needs | cls.data_needs(params)
        return needs

    def run_definition(self, key: RunKey) -> RunSpec:
        """The run of ``key`` with every default filled in — the backbone's and plug-in's
        (their ``Params``) and the trainer's — as its ``run.yaml`` records it (imports the
        registries, hence torch)."""
        from crossrec.align import PLUGINS
        from crossrec.models import BACKBONES

        var = self.variant(key.backbone, key.plugin, key.variant)
        return RunSpec(
            **{f: getattr(key, f) for f in ("dataset", "backbone", "plugin", "variant", "seed")},
            backbone_params=BACKBONES.resolve(key.backbone, var.backbone_params),
            plugin_params=PLUGINS.resolve(key.plugin, var.plugin_params),
            train=train_settings(self.config),
        )

    def write_run_files(self, root: Path) -> tuple[int, int]:
        """``<root>/<run folder>/run.yaml`` of every planned run (:func:`crossrec.run.
        write_run_file`): every folder is checked before the first file is written, and files
        planned from the same definition are left untouched, hand edits included (so their runs
        do not rerun). Returns (runs, files written)."""
        from crossrec.outputs import check_replaceable, only_names
        from crossrec.run import write_run_file

        keys = self.runs()
        for key in keys:
            check_replaceable(root / key.path(), only_names(RUN_FILES), flag="--runs")
        written = sum(
            write_run_file(self.run_definition(key), root / key.path() / RUN_FILE, planned=True)
            for key in keys
        )
        return len(keys), written

    def plan(self) -> dict[str, Any]:
        """A JSON-ready description of every run: study membership and resolved parameters."""
        rows = []
        entries = [(s, k, None) for s in ("main", "ablation") for k in self.runs(s)]
        entries += [("sensitivity", key, [param, value]) for param, value, key in self._sensitivity]
        for study, key, swept in entries:
            var = self.variant(key.backbone, key.plugin, key.variant)
            rows.append(
                {
                    "study": study,
                    **{f: getattr(key, f) for f in ("dataset", "backbone", "plugin")},
                    "variant": key.variant,
                    "seed": key.seed,
                    "backbone_params": var.backbone_params,
                    "plugin_params": var.plugin_params,
                    "grid": var.grid,
                    "swept": swept,
                }
            )
        return {
            "schema": 1,
            "selection": self.selection,
            "datasets": self.datasets,
            "seeds": [int(s) for s in self.config["seeds"]],
            "tables": dict(self.config.get("tables", {}) or {}),
            "sensitivity": dict(self.config.get("sensitivity", {}) or {}),
            "runs": rows,
        }
