"""Every planned variant typed once: the study's named variants, where each came from in the
config (so an error names that key), and their typed parameters, data needs and run
definitions. Typing imports the registries (hence torch); building the registry does not.

A variant is typed at most once per process (:func:`_typed_params`, cached on its plain
parameters), however many study objects, checks and run files ask for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from crossrec.errors import ConfigError
from crossrec.run import RunKey, RunSpec, TrainConfig
from crossrec.study.grid import TRAIN_KEY, Variant, backbone_only

if TYPE_CHECKING:
    from crossrec.data.needs import DataNeeds

VariantKey = tuple[str, str, str]
"""(backbone, plug-in, variant name)."""


@cache
def _typed_params(kind: str, name: str, params_json: str, where: str) -> tuple[type, Any]:
    """``(class, typed Params)`` of a backbone or plug-in ``name`` with ``params`` (JSON, so
    the cache key is hashable); ConfigError naming ``where``."""
    from crossrec.align import PLUGINS
    from crossrec.models import BACKBONES
    from crossrec.strict import from_dict

    registry = BACKBONES if kind == "backbone" else PLUGINS
    if name not in registry:
        raise ConfigError(
            f"{where}: unknown {registry.kind} {name!r} (available: {', '.join(registry)})"
        )
    cls = registry[name]
    return cls, from_dict(cls.Params, json.loads(params_json), where)


def _key(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=repr)


class Variants:
    """The named variants of a study: ``(backbone, plug-in, name)`` → :class:`Variant`, with
    the config key each came from."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        """``config``: the validated workflow config (its ``train`` section is every variant's
        base trainer settings)."""
        self.config = config
        self._variants: dict[VariantKey, Variant] = {}
        self._origin: dict[VariantKey, str] = {}

    def add(self, backbone: str, plugin: str, name: str, var: Variant, origin: str) -> None:
        """Register a variant; ConfigError when the name is taken by other parameters."""
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

    def __contains__(self, key: object) -> bool:
        return key in self._variants

    def keys(self) -> list[VariantKey]:
        """Every registered variant, in registration order."""
        return list(self._variants)

    def get(self, backbone: str, plugin: str, name: str) -> Variant:
        """The parameters of a planned variant (ConfigError for an unplanned one)."""
        try:
            return self._variants[(backbone, plugin, name)]
        except KeyError:
            raise ConfigError(f"no planned variant {backbone}/{plugin}/{name}") from None

    def typed(self, key: VariantKey) -> list[tuple[type, Any]]:
        """``[(backbone class, typed Params), (plug-in class, typed Params)]`` of a variant;
        ConfigError naming the config key of an unknown name or a bad parameter."""
        backbone, plugin, _ = key
        var, origin = self._variants[key], self._origin[key]
        p_where = f"plugins.{plugin}"
        if origin == "ablation":
            p_where = f"ablation.presets.{plugin}"
        elif origin.startswith("sensitivity"):
            p_where = f"sensitivity.plugin.{plugin}"
        b_params = backbone_only(var.backbone_params)
        typed = [
            _typed_params("backbone", backbone, _key(b_params), f"backbones.{backbone}"),
            _typed_params("plugin", plugin, _key(var.plugin_params), p_where),
        ]
        self.train_of(var, f"backbones.{backbone}.{TRAIN_KEY}")
        return typed

    def train_of(self, var: Variant, where: str = "train") -> TrainConfig:
        """The trainer settings of a variant: the config's ``train``, overridden by the
        backbone's own (ConfigError naming ``where``)."""
        from crossrec.strict import from_dict

        own = var.backbone_params.get(TRAIN_KEY) or {}
        return from_dict(TrainConfig, {**(self.config.get("train") or {}), **own}, where)

    def data_needs(self, keys: Iterable[VariantKey]) -> DataNeeds:
        """What ``prepare`` must write for ``keys``: the union of the needs each backbone and
        plug-in declares for its typed parameters (``data_needs``), plus the config's own
        ``neighbors_k`` and ``item_knn_k`` lists."""
        from crossrec.data.needs import DataNeeds

        needs = DataNeeds(
            neighbors_k=frozenset(int(k) for k in self.config.get("neighbors_k", [3])),
            item_knn_k=frozenset(int(k) for k in self.config.get("item_knn_k", [10])),
        )
        for key in keys:
            for cls, params in self.typed(key):
                needs = needs | cls.data_needs(params)
        return needs

    def run_definition(self, key: RunKey) -> RunSpec:
        """The run of ``key`` with every default filled in — the backbone's and plug-in's
        (their typed ``Params``) and the trainer's — as its ``run.yaml`` records it."""
        import dataclasses

        var = self.get(key.backbone, key.plugin, key.variant)
        (_, b_typed), (_, p_typed) = self.typed((key.backbone, key.plugin, key.variant))
        return RunSpec(
            **{f: getattr(key, f) for f in ("dataset", "backbone", "plugin", "variant", "seed")},
            backbone_params=json.loads(json.dumps(dataclasses.asdict(b_typed))),
            plugin_params=json.loads(json.dumps(dataclasses.asdict(p_typed))),
            train=self.train_of(var),
        )
