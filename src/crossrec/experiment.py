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
    TrainConfig,
    check_dataset_name,
    train_settings,
)
from crossrec.stages import STAGES, Pin, Rung, Selection, pins, rung_path, selection_path

if TYPE_CHECKING:
    from pathlib import Path

    from crossrec.data.needs import DataNeeds

DEFAULT_VARIANT = "default"
STUDIES = ("main", "ablation", "sensitivity")
SELECTIONS = ("validation", "mmrec_test")
ABLATION, SENSITIVITY = "ablation", "sensitivity"  # a staged study's variant name prefixes
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


TRAIN_KEY = "train"
"""A backbone's entry may hold trainer settings of its own under this key (MMRec tunes
``learning_rate`` per model): ``lattice: {reg_weight: [...], train: {lr: [1e-4, 1e-3]}}`` —
a list there is a grid too, its values named like the parameters' (``lr=0.001``)."""


def backbone_only(params: Mapping[str, Any]) -> dict[str, Any]:
    """A backbone entry's parameters without its own trainer settings."""
    return {k: v for k, v in params.items() if k != TRAIN_KEY}


def grid_variants(
    backbone_params: Mapping[str, Any], plugin_params: Mapping[str, Any]
) -> dict[str, Variant]:
    """Variant name → :class:`Variant` for every point of the pair's grid (product of lists of
    the backbone's parameters, its own trainer settings and the plug-in's parameters)."""
    train = backbone_params.get(TRAIN_KEY) or {}
    if not isinstance(train, Mapping):
        raise ConfigError(f"{TRAIN_KEY}: a backbone's trainer settings are a mapping")
    b_fixed, b_lists = _split_grid(backbone_only(backbone_params))
    t_fixed, t_lists = _split_grid(train)
    p_fixed, p_lists = _split_grid(plugin_params)
    for one, other in ((b_lists, p_lists), (b_lists, t_lists), (t_lists, p_lists)):
        shared = sorted(set(one) & set(other))
        if shared:
            raise ConfigError(
                f"grid key {shared[0]!r} appears in both the backbone and the plug-in (or the "
                "backbone's train settings)"
            )
    keys = [("b", k) for k in sorted(b_lists)] + [("t", k) for k in sorted(t_lists)]
    keys += [("p", k) for k in sorted(p_lists)]
    lists = {"b": b_lists, "t": t_lists, "p": p_lists}
    pools = [lists[side][k] for side, k in keys]
    out: dict[str, Variant] = {}
    for values in itertools.product(*pools):
        parts = {"b": dict(b_fixed), "t": dict(t_fixed), "p": dict(p_fixed)}
        grid = {}
        for (side, key), value in zip(keys, values, strict=True):
            parts[side][key] = value
            grid[key] = value
        b = {**parts["b"], TRAIN_KEY: parts["t"]} if parts["t"] else parts["b"]
        out[variant_name(grid)] = Variant(b, parts["p"], grid)
    return out


def _flat(params: Mapping[str, Any], lists_only: bool = False) -> dict[str, Any]:
    """A backbone entry's values by name, its own trainer settings' included (``train.lr`` as
    ``lr``); ``lists_only``: only the grid keys."""
    own = params.get(TRAIN_KEY) or {}
    flat = {**backbone_only(params), **(own if isinstance(own, Mapping) else {})}
    return {k: v for k, v in flat.items() if isinstance(v, list) or not lists_only}


def _excluded(rules: Sequence[Mapping[str, Any]], dataset: str, backbone: str, plugin: str) -> bool:
    here = {"dataset": dataset, "backbone": backbone, "plugin": plugin}
    return any(all(here.get(k) == v for k, v in rule.items()) for rule in rules)


class Experiment:
    """The runs of a validated workflow config and the parameters of each variant."""

    def __init__(self, config: Mapping[str, Any], selections: Path | None = None) -> None:
        """``selections``: the folder of a staged study's selection files (crossrec.stages);
        with it, the main study is the replicate runs of the selections made so far."""
        self.config = config
        self.staged = config.get("stages") is not None
        self.selections = selections
        self.selection = config.get("selection", "validation")
        if self.selection not in SELECTIONS:
            raise ConfigError(f"selection {self.selection!r}: choose one of {SELECTIONS}")
        self._variants: dict[tuple[str, str, str], Variant] = {}
        self._origin: dict[tuple[str, str, str], str] = {}  # variant -> config key it came from
        self._studies: dict[str, list[RunKey]] = {s: [] for s in (*STUDIES, *STAGES)}
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
                        if not self.staged and not _excluded(exclude, dataset, backbone, plugin):
                            key = RunKey(dataset, backbone, plugin, name, seed)
                            self._studies["main"].append(key)
        self.seeds = seeds
        if self.staged:
            self._plan_stages(datasets, seeds, exclude)
        if not self.staged:  # a staged study plans them at the selected backbone points
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

    # -- staged studies (crossrec.stages) ------------------------------------------------------

    def _plan_stages(self, datasets: list[str], seeds: list[int], exclude: list) -> None:
        """Register the pinned points' variants; plan every run known before any selection
        (tune runs; align and replicate runs of pinned points) and, with ``self.selections``,
        those the selection files made so far determine."""
        if "none" not in self.config["plugins"]:
            raise ConfigError(
                "stages: the tune stage trains each backbone alone; add `none: {}` to `plugins`"
            )
        spec = self.config["stages"]
        self.stage_seed = {s: int((spec.get(s) or {}).get("seed", seeds[0])) for s in STAGES}
        self.pins = pins(self.config)
        self._exclude = exclude
        for pin in self.pins:
            self._register_pin(pin)
        for dataset in datasets:
            for backbone in self.config["backbones"]:
                self._studies["tune"] += self.tune_runs(dataset, backbone)
                chosen = self.chosen(dataset, backbone, "none")
                if chosen is None:
                    continue
                for plugin in self.plugins_of(dataset, backbone):
                    self._studies["align"] += self.align_runs(dataset, backbone, plugin, chosen)
                for study, key, swept in self.selected_studies(dataset, backbone, chosen):
                    self._studies[study].append(key)
                    if swept is not None:
                        self._sensitivity.append((*swept, key))
                for plugin in ["none", *self.plugins_of(dataset, backbone)]:
                    final = self.chosen(dataset, backbone, plugin)
                    if final is not None:
                        self._studies["main"] += [
                            RunKey(dataset, backbone, plugin, final, s) for s in seeds
                        ]
        self._studies["main"] = sorted(
            self._studies["main"],
            key=lambda k: (
                datasets.index(k.dataset),
                list(self.config["backbones"]).index(k.backbone),
                list(self.config["plugins"]).index(k.plugin),
                k.seed,
            ),
        )

    def _grid_keys(self, section: str, name: str) -> list[str]:
        """The grid keys of a backbone or plug-in entry (a backbone's own trainer settings'
        included, by their names)."""
        return list(_flat(self.config[section].get(name) or {}, lists_only=True))

    def _register_pin(self, pin: Pin) -> None:
        """Check a pin fixes every grid key of its stage; register a pinned backbone point."""
        section, name = ("plugins", pin.plugin) if pin.plugin else ("backbones", pin.backbone)
        missing = [k for k in self._grid_keys(section, name) if k not in _flat(pin.params)]
        if missing:
            label = pin.backbone + (f"/{pin.plugin}" if pin.plugin else "")
            raise ConfigError(
                f"pin {label}: fix the grid key {missing[0]!r} too (a pin skips the whole stage)"
            )
        if pin.plugin is None:
            entry = self.config["backbones"][pin.backbone] or {}
            own = {**(entry.get(TRAIN_KEY) or {}), **(pin.params.get(TRAIN_KEY) or {})}
            b_params = {**entry, **pin.params, **({TRAIN_KEY: own} if own else {})}
            grid = _flat(pin.params)
            var = Variant(b_params, dict(self.config["plugins"]["none"] or {}), grid)
            self._add_variant(pin.backbone, "none", variant_name(grid), var, "pin")

    def _variants_at(
        self, backbone: str, plugin: str, backbone_variant: str, point: Mapping[str, Any] | None
    ) -> list[str]:
        """The variants of a plug-in at a backbone variant: its grid, or the one ``point``
        (a pin), registered under names carrying the backbone's and the plug-in's values."""
        b_var = self.variant(backbone, "none", backbone_variant)
        p_params = {**(self.config["plugins"][plugin] or {}), **(point or {})}
        names = []
        for var in grid_variants(b_var.backbone_params, p_params).values():
            grid = {**b_var.grid, **var.grid, **(point or {})}
            name = variant_name(grid)
            origin = "pin" if point else f"plugins.{plugin}"
            self._add_variant(
                backbone,
                plugin,
                name,
                Variant(var.backbone_params, var.plugin_params, grid),
                origin,
            )
            names.append(name)
        return names

    def _pinned(self, dataset: str, backbone: str, plugin: str | None) -> Pin | None:
        found = [p for p in self.pins if p.applies(dataset, backbone, plugin)]
        exact = [p for p in found if p.dataset == dataset]
        return (exact or found or [None])[0]

    def is_pinned(self, dataset: str, backbone: str, plugin: str | None = None) -> bool:
        """Whether a pin fixes the backbone's point (``plugin`` None) or the plug-in's."""
        return self._pinned(dataset, backbone, plugin) is not None

    def plugins_of(self, dataset: str, backbone: str) -> list[str]:
        """The plug-ins (not ``none``) aligned on a (dataset, backbone), config order."""
        return [
            p
            for p in self.config["plugins"]
            if p != "none" and not _excluded(self._exclude, dataset, backbone, p)
        ]

    def stage_keys(self, stage: str, backbone: str, plugin: str) -> list[str]:
        """The grid keys a stage chooses: the backbone's (tune) or the plug-in's (align)."""
        return self._grid_keys(
            *(("backbones", backbone) if stage == "tune" else ("plugins", plugin))
        )

    def tune_runs(self, dataset: str, backbone: str) -> list[RunKey]:
        """The tune stage's runs of a (dataset, backbone): its grid with plug-in ``none``, one
        seed; none when the backbone is pinned."""
        if self._pinned(dataset, backbone, None) is not None:
            return []
        names = grid_variants(self.config["backbones"][backbone] or {}, {})
        return [RunKey(dataset, backbone, "none", n, self.stage_seed["tune"]) for n in names]

    def align_runs(
        self, dataset: str, backbone: str, plugin: str, backbone_variant: str
    ) -> list[RunKey]:
        """The align stage's runs of a plug-in at the backbone's selected variant (none when the
        plug-in is pinned there)."""
        if self._pinned(dataset, backbone, plugin) is not None:
            return []
        names = self._variants_at(backbone, plugin, backbone_variant, None)
        return [RunKey(dataset, backbone, plugin, n, self.stage_seed["align"]) for n in names]

    def selection_of(
        self, stage: str, dataset: str, backbone: str, plugin: str
    ) -> Selection | None:
        """The selection file of a stage, when it exists (``self.selections``)."""
        if self.selections is None:
            return None
        path = selection_path(self.selections, stage, dataset, backbone, plugin)
        return Selection.read(path) if path.exists() else None

    def chosen(self, dataset: str, backbone: str, plugin: str) -> str | None:
        """The variant the replicate stage trains for (dataset, backbone, plug-in): pinned, or
        selected (tune for ``none``, align for a plug-in); None while not yet selected."""
        b_pin = self._pinned(dataset, backbone, None)
        if b_pin is not None:
            b_variant = variant_name(_flat(b_pin.params))
        else:
            sel = self.selection_of("tune", dataset, backbone, "none")
            if sel is None:
                return None
            b_variant = sel.variant
        if plugin == "none":
            return b_variant
        p_pin = self._pinned(dataset, backbone, plugin)
        if p_pin is not None:
            return self._variants_at(backbone, plugin, b_variant, p_pin.params)[0]
        sel = self.selection_of("align", dataset, backbone, plugin)
        if sel is None:
            return None
        return sel.variant

    def runs_by_stage(self) -> dict[str, list[RunKey]]:
        """Every run a staged study will train, by stage (``tune``, ``align``, ``main`` = the
        replicate runs), before any selection: each selection stands in as the first grid
        point — the counts and the (dataset, backbone, plug-in) of every run do not depend on
        which point wins (what the cost estimate needs). A flat study: its studies."""
        if not self.staged:
            return {s: self.runs(s) for s in STUDIES}
        out: dict[str, list[RunKey]] = {s: [] for s in ("tune", "align", "main", *STUDIES[1:])}
        for dataset in self.datasets:
            for backbone in self.config["backbones"]:
                tune = self.tune_runs(dataset, backbone)
                out["tune"] += tune
                b_variant = self.chosen(dataset, backbone, "none") or tune[0].variant
                finals = {"none": b_variant}
                for plugin in self.plugins_of(dataset, backbone):
                    align = self.align_runs(dataset, backbone, plugin, b_variant)
                    out["align"] += align
                    pinned = self.is_pinned(dataset, backbone, plugin)
                    finals[plugin] = (
                        self.chosen(dataset, backbone, plugin) if pinned else align[0].variant
                    )
                for study, key, _ in self.selected_studies(dataset, backbone, b_variant):
                    out[study].append(key)
                for plugin, variant in finals.items():
                    out["main"] += [
                        RunKey(dataset, backbone, plugin, variant, s) for s in self.seeds
                    ]
        return out

    def halving(self, stage: str) -> tuple[int, int] | None:
        """``(eta, min_epochs)`` of a stage searched by successive halving, else None."""
        search = (self.config["stages"].get(stage) or {}).get("search", "grid")
        if isinstance(search, Mapping):
            spec = search["halving"]
            return int(spec.get("eta", 3)), int(spec["min_epochs"])
        return None

    def stage_runs(self, stage: str, dataset: str, backbone: str, plugin: str) -> list[RunKey]:
        """A stage's candidate runs: the tune grid, or the plug-in's align grid at the selected
        backbone point ([] while that is not selected)."""
        if stage == "tune":
            return self.tune_runs(dataset, backbone)
        chosen = self.chosen(dataset, backbone, "none")
        return [] if chosen is None else self.align_runs(dataset, backbone, plugin, chosen)

    def rung_epochs(self, stage: str, rung: int) -> int:
        """The epoch budget of a rung: ``min_epochs · eta^rung``."""
        eta, min_epochs = self.halving(stage) or (1, 0)
        return min_epochs * eta**rung

    def rung_sizes(self, stage: str, n: int) -> tuple[list[int], int]:
        """The successive-halving schedule of ``n`` candidates: how many points each rung
        pauses (rung r trained to :meth:`rung_epochs`) and how many finalists train to early
        stopping. A rung is added while more than ``eta`` points remain and its budget is below
        ``train.epochs``; each keeps ``ceil(points / eta)``. Exhaustive search: no rungs, every
        candidate final."""
        spec = self.halving(stage)
        max_epochs = train_settings(self.config).epochs
        sizes: list[int] = []
        while spec and n > spec[0] and self.rung_epochs(stage, len(sizes)) < max_epochs:
            sizes.append(n)
            n = -(-n // spec[0])
        return sizes, n

    def rungs(
        self, stage: str, dataset: str, backbone: str, plugin: str
    ) -> tuple[list[list[RunKey]], list[RunKey] | None]:
        """Successive halving of a stage (:meth:`rung_sizes`), as far as its rung files go: the
        runs paused at each rung so far, and the finalists, among which the stage selects (None
        while a rung's selection is missing)."""
        alive = self.stage_runs(stage, dataset, backbone, plugin)
        paused: list[list[RunKey]] = []
        for rung in range(len(self.rung_sizes(stage, len(alive))[0])):
            paused.append(alive)
            if self.selections is None:
                return paused, None
            path = rung_path(self.selections, stage, dataset, backbone, plugin, rung)
            if not path.exists():
                return paused, None
            kept = set(Rung.read(path).survivors)
            alive = [k for k in alive if k.variant in kept]
        return paused, alive

    def planned_epochs(self, epochs_to_stop: int, halving: bool = True) -> dict[RunKey, int]:
        """Epochs each run of a staged study is expected to train (runs of :meth:`runs_by_stage`;
        a flat study: none listed, every run trains ``epochs_to_stop``): with successive halving
        a point cut at rung r trains :meth:`rung_epochs` of r, a finalist ``epochs_to_stop``;
        ``halving=False``: as if every stage were searched exhaustively (the comparison the
        estimate prints)."""
        out: dict[RunKey, int] = {}
        if not self.staged:
            return out
        by_stage = self.runs_by_stage()
        for stage in STAGES:
            groups: dict[tuple[str, str, str], list[RunKey]] = {}
            for key in by_stage[stage]:
                groups.setdefault((key.dataset, key.backbone, key.plugin), []).append(key)
            for keys in groups.values():
                sizes, final = self.rung_sizes(stage, len(keys)) if halving else ([], len(keys))
                kept_after = [*sizes[1:], final] if sizes else []  # points left after rung r
                for rung, (size, kept) in enumerate(zip(sizes, kept_after, strict=True)):
                    for key in keys[kept:size]:
                        out[key] = min(self.rung_epochs(stage, rung), epochs_to_stop)
                for key in keys[:final]:
                    out[key] = epochs_to_stop
        return out

    def stage_of(self, key: RunKey) -> tuple[str, str, str, str] | None:
        """``(stage, dataset, backbone, plugin)`` when ``key`` is a candidate of a stage."""
        if not self.staged:
            return None
        d, b, p = key.dataset, key.backbone, key.plugin
        if key.variant.startswith((f"{ABLATION}+", f"{SENSITIVITY}+")):
            return None
        if p != "none" and p not in self.plugins_of(d, b):
            return None
        stage = "tune" if p == "none" else "align"
        if key in self.stage_runs(stage, d, b, p):
            return stage, d, b, p
        return None

    def selected_studies(
        self, dataset: str, backbone: str, backbone_variant: str
    ) -> list[tuple[str, RunKey, tuple[str, Any] | None]]:
        """A staged study's ablation and sensitivity runs on a backbone, at its selected (or
        pinned) point: ``(study, run, (param, value) swept or None)``. Their plug-in
        parameters are the configured ones (``ablation.plugin_params``, the sensitivity's sweep
        around ``sensitivity.plugin_params``), their variants named ``ablation+<point>`` and
        ``sensitivity+<param>=<value>+<point>``."""
        out: list[tuple[str, RunKey, tuple[str, Any] | None]] = []
        b_var = self.variant(backbone, "none", backbone_variant)
        abl = self.config.get("ablation")
        if abl and backbone in abl["backbones"]:
            seeds = [int(s) for s in abl.get("seeds", self.seeds)]
            name = f"{ABLATION}+{backbone_variant}"
            for preset in abl["presets"]:
                _, params = self._base(
                    backbone, preset, "ablation", b_var.backbone_params, abl.get("plugin_params")
                )
                var = Variant(b_var.backbone_params, params, dict(b_var.grid))
                self._add_variant(backbone, preset, name, var, "ablation")
                out += [
                    ("ablation", RunKey(dataset, backbone, preset, name, s), None) for s in seeds
                ]
        sens = self.config.get("sensitivity")
        if sens and sens["backbone"] == backbone:
            plugin = sens["plugin"]
            seeds = [int(s) for s in sens.get("seeds", self.seeds)]
            _, params = self._base(
                backbone, plugin, "sensitivity", b_var.backbone_params, sens.get("plugin_params")
            )
            for param, values in sens["params"].items():
                for value in values:
                    name = f"{SENSITIVITY}+{variant_name({param: value})}+{backbone_variant}"
                    var = Variant(b_var.backbone_params, {**params, param: value}, dict(b_var.grid))
                    self._add_variant(backbone, plugin, name, var, f"sensitivity.params.{param}")
                    out += [
                        ("sensitivity", RunKey(dataset, backbone, plugin, name, s), (param, value))
                        for s in seeds
                    ]
        return out

    def determined_by(self, key: RunKey) -> tuple[str, ...]:
        """What writes a run's ``run.yaml``: ``("plan",)`` for a run known before any selection,
        ``("tune", dataset, backbone)`` or ``("align", dataset, backbone, plugin)`` for one a
        selection determines."""
        if not self.staged:
            return ("plan",)
        d, b, p = key.dataset, key.backbone, key.plugin
        b_pinned = self._pinned(d, b, None) is not None
        if key.variant.startswith((f"{ABLATION}+", f"{SENSITIVITY}+")):
            return ("plan",) if b_pinned else ("tune", d, b)
        if p == "none":
            tuned = key.seed == self.stage_seed["tune"] and not b_pinned
            return ("plan",) if tuned or b_pinned else ("tune", d, b)
        p_pinned = self._pinned(d, b, p) is not None
        if key.seed == self.stage_seed["align"] or p_pinned:
            return ("plan",) if b_pinned else ("tune", d, b)
        return ("align", d, b, p)

    def runs_determined_by(self, step: tuple[str, ...]) -> list[RunKey]:
        """The planned runs (given the selections so far) whose ``run.yaml`` ``step`` writes."""
        return [k for k in self.runs() if self.determined_by(k) == tuple(step)]

    def validate(self) -> None:
        """Check what the schema cannot (imports the registries, hence torch): backbone and
        plug-in names, every planned variant's parameters against its ``Params`` dataclass
        (types, choices, ranges), the ``train`` section, and ``tables.k`` ⊆ ``train.topk``.

        Raises:
            ConfigError: ``"<config key>: <problem>"`` for the first problem found.
        """
        train = train_settings(self.config)
        if self.staged:  # every stage's variants, each selection standing in as its first point
            self.runs_by_stage()
        for key in list(self._variants):
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
            (BACKBONES, backbone, backbone_only(var.backbone_params), f"backbones.{backbone}"),
            (PLUGINS, plugin, var.plugin_params, p_where),
        ):
            if which not in registry:
                raise ConfigError(
                    f"{where}: unknown {registry.kind} {which!r} (available: {', '.join(registry)})"
                )
            cls = registry[which]
            typed.append((cls, from_dict(cls.Params, params, where)))
        self._train_of(var, f"backbones.{backbone}.{TRAIN_KEY}")
        return typed

    def _train_of(self, var: Variant, where: str = "train") -> TrainConfig:
        """The trainer settings of a variant: the config's ``train``, overridden by the
        backbone's own (ConfigError naming ``where``)."""
        from crossrec.config import from_dict

        own = var.backbone_params.get(TRAIN_KEY) or {}
        return from_dict(TrainConfig, {**(self.config.get("train") or {}), **own}, where)

    def data_needs(self) -> DataNeeds:
        """What ``prepare`` must write for every planned run: the union of the needs each planned
        backbone and plug-in declares for its resolved parameters (``data_needs``), plus the
        config's own ``neighbors_k`` and ``item_knn_k`` lists."""
        from crossrec.data.needs import DataNeeds

        needs = DataNeeds(
            neighbors_k=frozenset(int(k) for k in self.config.get("neighbors_k", [3])),
            item_knn_k=frozenset(int(k) for k in self.config.get("item_knn_k", [10])),
        )
        keys = (
            set(self._variants)
            if self.staged
            else {(k.backbone, k.plugin, k.variant) for k in self.runs()}
        )
        for key in keys:
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
            backbone_params=BACKBONES.resolve(key.backbone, backbone_only(var.backbone_params)),
            plugin_params=PLUGINS.resolve(key.plugin, var.plugin_params),
            train=self._train_of(var),
        )

    def write_run_files(self, root: Path, step: tuple[str, ...] = ("plan",)) -> tuple[int, int]:
        """``<root>/<run folder>/run.yaml`` of every planned run (:func:`crossrec.run.
        write_run_file`): every folder is checked before the first file is written, and files
        planned from the same definition are left untouched, hand edits included (so their runs
        do not rerun). Returns (runs, files written)."""
        from crossrec.outputs import check_replaceable, only_names
        from crossrec.run import write_run_file

        keys = self.runs_determined_by(step)
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
        stages = () if self.selections is not None else STAGES  # the study: replicate runs only
        entries = [(s, k, None) for s in ("main", "ablation", *stages) for k in self.runs(s)]
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
            "stages": self.stage_seed if self.staged else None,
            "runs": rows,
        }
