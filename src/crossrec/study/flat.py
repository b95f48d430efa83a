"""The flat planner: every study's runs are known from the config alone.

* **main** — ``datasets × backbones × plugins × variants × seeds`` minus ``exclude`` (a list
  value is a grid: :mod:`crossrec.study.grid`).
* **ablation** — ``ablation.backbones × ablation.presets × seeds`` (the ``cross_*`` presets).
* **sensitivity** — on one backbone + plug-in, each ``sensitivity.params`` entry swept one at a
  time around the plug-in's configured values (one variant per value, named ``param=value``).

Both studies need scalar parameters: ``backbone_params`` / ``plugin_params`` in their section
override the configured ones (e.g. to fix one point of a grid).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from crossrec.run import RunKey
from crossrec.study.base import Planner
from crossrec.study.grid import DEFAULT_VARIANT, Variant, excluded, variant_name

if TYPE_CHECKING:
    from pathlib import Path


class FlatStudy(Planner):
    """A study without ``stages:``: main, ablation and sensitivity runs from the config."""

    def __init__(self, config: Mapping[str, Any], selections: Path | None = None) -> None:
        """Plan every run of ``config`` (``selections`` is ignored: a flat study selects on
        the seed means when the tables are built)."""
        super().__init__(config, selections)
        for (backbone, plugin), names in self.grids.items():
            for name in names:
                for dataset, seed in self._pairs():
                    if not excluded(self.exclude, dataset, backbone, plugin):
                        key = RunKey(dataset, backbone, plugin, name, seed)
                        self._studies["main"].append(key)
        self._plan_ablation(config.get("ablation"))
        self._plan_sensitivity(config.get("sensitivity"))
        self._plan_knockout()

    def _plan_ablation(self, spec: Mapping[str, Any] | None) -> None:
        if not spec:
            return
        seeds = [int(s) for s in spec.get("seeds", self.seeds)]
        for backbone in spec["backbones"]:
            for preset in spec["presets"]:
                b, p = self.base(
                    backbone,
                    preset,
                    "ablation",
                    (spec.get("backbone_params") or {}).get(backbone),
                    spec.get("plugin_params"),
                )
                self.variants.add(backbone, preset, DEFAULT_VARIANT, Variant(b, p), "ablation")
                for dataset, seed in itertools.product(self.datasets, seeds):
                    key = RunKey(dataset, backbone, preset, DEFAULT_VARIANT, seed)
                    self._studies["ablation"].append(key)

    def _plan_knockout(self) -> None:
        """The knock-out runs (:mod:`crossrec.study.knockout`) at the configured point of each
        (backbone, plug-in), fixed by ``knockout.backbone_params`` / ``plugin_params`` where the
        config has a grid: the main study's variant of that point (its runs on the full data
        shared), else a variant named ``knockout``."""
        spec = self.knockout
        if spec is None:
            return
        for backbone in spec.backbones:
            for plugin in spec.plugins_of(list(self.config["plugins"])):
                b, p = self.base(
                    backbone,
                    plugin,
                    "knockout",
                    (spec.spec.get("backbone_params") or {}).get(backbone),
                    spec.spec.get("plugin_params") if plugin != "none" else None,
                )
                main = {
                    n: self.variant(backbone, plugin, n) for n in self.grids[(backbone, plugin)]
                }
                same = [
                    n for n, v in main.items() if (v.backbone_params, v.plugin_params) == (b, p)
                ]
                name = same[0] if same else "knockout"
                self.variants.add(backbone, plugin, name, Variant(b, p), "knockout")
                for dataset in self.datasets:
                    if not excluded(self.exclude, dataset, backbone, plugin):
                        self._studies["knockout"] += spec.runs(dataset, backbone, plugin, name)

    def _plan_sensitivity(self, spec: Mapping[str, Any] | None) -> None:
        if not spec:
            return
        backbone, plugin = spec["backbone"], spec["plugin"]
        seeds = [int(s) for s in spec.get("seeds", self.seeds)]
        b, p = self.base(
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
                    p.get(param) == value and (backbone, plugin, DEFAULT_VARIANT) in self.variants
                )
                name = DEFAULT_VARIANT if same else variant_name({param: value})
                var = Variant(b, {**p, param: value}, {})
                self.variants.add(backbone, plugin, name, var, f"sensitivity.params.{param}")
                for dataset, seed in itertools.product(self.datasets, seeds):
                    key = RunKey(dataset, backbone, plugin, name, seed)
                    self._studies["sensitivity"].append(key)
                    self._sensitivity.append((param, value, key))
