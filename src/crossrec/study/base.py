"""What both planners share (:mod:`crossrec.study.flat`, :mod:`crossrec.study.staged`): the
config's datasets and seeds, every (backbone, plug-in) grid's variants, the run lists by study,
typing and the plan rows. A planner adds its runs; it never branches on the other's kind."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from crossrec.errors import ConfigError
from crossrec.run import RunKey, RunSpec, check_dataset_name, train_settings
from crossrec.study.grid import Variant, grid_variants
from crossrec.study.knockout import Knockout, derived_name, restrict
from crossrec.study.resolve import Variants

if TYPE_CHECKING:
    from pathlib import Path

    from crossrec.data.needs import DataNeeds

STUDIES = ("main", "ablation", "sensitivity", "knockout")
SELECTIONS = ("validation", "mmrec_test")


class Planner:
    """The runs of a validated workflow config and the parameters of each variant (one of the
    two planners; :func:`crossrec.study.open_study` chooses)."""

    staged = False
    """Whether the study runs in stages (tune → align → replicate)."""
    run_studies: tuple[str, ...] = STUDIES
    """The keys of :meth:`runs` (a staged study adds its stages)."""

    def __init__(self, config: Mapping[str, Any], selections: Path | None = None) -> None:
        """``selections``: the folder of a staged study's selection files (a flat study has
        none and ignores it)."""
        self.config = config
        self.selections = selections
        self.selection = config.get("selection", "validation")
        if self.selection not in SELECTIONS:
            raise ConfigError(f"selection {self.selection!r}: choose one of {SELECTIONS}")
        self.variants = Variants(config)
        self._studies: dict[str, list[RunKey]] = {s: [] for s in self.run_studies}
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
        self.seeds = [int(s) for s in config["seeds"]]
        self.exclude = config.get("exclude", []) or []
        self.knockout = Knockout.of(config, self.datasets, self.seeds)
        self.grids: dict[tuple[str, str], list[str]] = {}  # (backbone, plug-in) -> variants
        for backbone, b_params in config["backbones"].items():
            for plugin, p_params in config["plugins"].items():
                names = self.grids.setdefault((backbone, plugin), [])
                for name, var in grid_variants(b_params or {}, p_params or {}).items():
                    self.variants.add(backbone, plugin, name, var, f"backbones.{backbone}")
                    names.append(name)

    def _pairs(self) -> itertools.product:
        """(dataset, seed) of every planned dataset and seed."""
        return itertools.product(self.datasets, self.seeds)

    def base(
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

    def runs(self, study: str | None = None) -> list[RunKey]:
        """The runs of one study, or of all studies (each run once), in config order."""
        if study is not None:
            return list(dict.fromkeys(self._studies[study]))
        return list(dict.fromkeys(k for keys in self._studies.values() for k in keys))

    def runs_by_stage(self) -> dict[str, list[RunKey]]:
        """Every run the study will train, by study (a staged study: by stage, before any
        selection; what the cost estimate counts)."""
        return {s: self.runs(s) for s in STUDIES}

    def planned_epochs(self, epochs_to_stop: int, halving: bool = True) -> dict[RunKey, int]:
        """Epochs each run is expected to train where that differs from ``epochs_to_stop``
        (a flat study: none listed, every run trains ``epochs_to_stop``)."""
        return {}

    def determined_by(self, key: RunKey) -> tuple[str, ...]:
        """What writes a run's ``run.yaml``: ``("plan",)`` (a staged study adds its stages)."""
        return ("plan",)

    def runs_determined_by(self, step: tuple[str, ...]) -> list[RunKey]:
        """The planned runs (given the selections so far) whose ``run.yaml`` ``step`` writes."""
        return [k for k in self.runs() if self.determined_by(k) == tuple(step)]

    def variant(self, backbone: str, plugin: str, name: str) -> Variant:
        """The parameters of a planned variant (ConfigError for an unplanned one)."""
        return self.variants.get(backbone, plugin, name)

    def typed_variants(self) -> list[tuple[str, str, str]]:
        """The variants :meth:`validate` types and :meth:`data_needs` reads: every planned
        run's."""
        return list(dict.fromkeys((k.backbone, k.plugin, k.variant) for k in self.runs()))

    def validate(self) -> None:
        """Check what the schema cannot (imports the registries, hence torch): backbone and
        plug-in names, every variant's parameters against its ``Params`` dataclass (types,
        choices, ranges), the ``train`` section, ``tables.k`` ⊆ ``train.topk``, and ``figures``
        (a ``figures.style`` that matplotlib knows or a file).

        Raises:
            ConfigError: ``"<config key>: <problem>"`` for the first problem found.
        """
        if self.config.get("pin") and not self.staged:
            raise ConfigError(
                "pin: pins fix the points of a staged study's stages; this config has no "
                "`stages:` (a flat study trains the configured values: set them there)"
            )
        train = train_settings(self.config)
        for key in self.variants.keys():
            self.variants.typed(key)
        from crossrec.report import DEFAULT_K

        tables = self.config.get("tables") or {}
        for k in tables.get("k", DEFAULT_K):
            if k not in train.topk:
                default = "" if "k" in tables else f" (the default tables.k {list(DEFAULT_K)})"
                raise ConfigError(
                    f"tables.k: {k}{default} is not one of the computed cut-offs train.topk "
                    f"{list(train.topk)}"
                )
        if self.config.get("figures"):  # a style sheet must exist before any job runs
            from crossrec.report.figstyle import FigureForm

            problem = FigureForm.of_config(self.config).problem()
            if problem is not None:
                raise ConfigError(problem)

    def data_needs(self) -> DataNeeds:
        """What ``prepare`` must write for every planned run (:meth:`Variants.data_needs`)."""
        return self.variants.data_needs(self.typed_variants())

    def base_dataset(self, dataset: str) -> str:
        """The configured dataset a knock-out dataset derives from (``dataset`` itself
        otherwise; :mod:`crossrec.study.knockout`)."""
        derived = self.knockout.kept(dataset) if self.knockout else None
        return dataset if derived is None else derived[0]

    def run_definition(self, key: RunKey) -> RunSpec:
        """The run of ``key`` with every default filled in, as its ``run.yaml`` records it (on
        a knock-out dataset, the parameters that name modalities restricted to the kept ones:
        :func:`crossrec.study.knockout.restrict`)."""
        spec = self.variants.run_definition(key)
        derived = self.knockout.kept(key.dataset) if self.knockout else None
        if derived is None:
            return spec
        kept = derived[1]
        plugin_params = restrict(spec.plugin_params, kept)
        if plugin_params.get("modalities") == []:
            raise ConfigError(
                f"knockout: plug-in {key.plugin} aligns only {spec.plugin_params['modalities']}, "
                f"none of which {key.dataset} keeps; leave that subset out (knockout.subsets)"
            )
        return dataclasses.replace(
            spec,
            backbone_params=restrict(spec.backbone_params, kept),
            plugin_params=plugin_params,
        )

    def plan_studies(self) -> tuple[str, ...]:
        """The studies whose runs :meth:`plan` lists besides the sensitivity sweep."""
        return ("main", "ablation", "knockout")

    def plan(self) -> dict[str, Any]:
        """A JSON-ready description of every run: study membership and resolved parameters."""
        rows = []
        entries = [(s, k, None) for s in self.plan_studies() for k in self.runs(s)]
        entries += [("sensitivity", key, [param, value]) for param, value, key in self._sensitivity]
        for study, key, swept in entries:
            var = self.variant(key.backbone, key.plugin, key.variant)
            derived = self.knockout.kept(key.dataset) if self.knockout else None
            if derived is not None:  # as the run's definition has them
                var = Variant(
                    restrict(var.backbone_params, derived[1]),
                    restrict(var.plugin_params, derived[1]),
                    var.grid,
                )
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
        knockout = {}
        if self.knockout is not None:
            knockout = {
                "knockout": {
                    derived_name(d, kept): {"dataset": d, "kept": list(kept)}
                    for d, subsets in self.knockout.subsets.items()
                    for kept in subsets
                }
            }
        return {
            "schema": 1,
            "selection": self.selection,
            "datasets": self.datasets,
            "seeds": [int(s) for s in self.config["seeds"]],
            "tables": dict(self.config.get("tables", {}) or {}),
            **({"figures": dict(self.config["figures"])} if self.config.get("figures") else {}),
            "sensitivity": dict(self.config.get("sensitivity", {}) or {}),
            "stages": self.stage_seeds(),
            "runs": rows,
            **knockout,
            "outputs": self.outputs(),
        }

    def outputs(self) -> dict[str, list[str]]:
        """The tables and figures this study has: :data:`crossrec.report.TABLES` and
        ``FIGURES`` less those showing what it lacks — ``ablation`` and ``sensitivity`` without
        their config sections, ``knockout`` without ``knockout:``, ``tuning`` without a search
        (no stage and no grid of two or more points), ``paper_vs_ours`` without a dataset
        with published numbers. Never a placeholder; the workflow's targets and the report
        follow this list (plan.json carries it to ``crossrec tables`` / ``figures``)."""
        from crossrec.report import FIGURES, PAPER_DATASETS, TABLES

        absent = set()
        if not self.config.get("ablation"):
            absent.add("ablation")
        if not self.config.get("sensitivity"):
            absent.add("sensitivity")
        if self.knockout is None:
            absent.add("knockout")
        if not (self.staged or any(len(names) > 1 for names in self.grids.values())):
            absent.add("tuning")
        if not any(d.lower() in PAPER_DATASETS for d in self.datasets):
            absent.add("paper_vs_ours")
        return {
            "tables": [t for t in TABLES if t not in absent],
            "figures": [f for f in FIGURES if f not in absent],
        }

    def stage_seeds(self) -> dict[str, int] | None:
        """The seed of each stage (None: a flat study)."""
        return None
