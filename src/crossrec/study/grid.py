"""Grid values → named variants (pure: no registry, no torch).

A list value of a backbone or plug-in hyper-parameter is a grid: one variant per point of the
product of all lists of that (backbone, plug-in) pair. Variant names are short, stable slugs of
the grid values (``alpha=0.001+beta=0.0001``); without lists the variant is ``default``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crossrec.errors import ConfigError

DEFAULT_VARIANT = "default"
_SLUG_OK = re.compile(r"[A-Za-z0-9_.=+\-]+")

TRAIN_KEY = "train"
"""A backbone's entry may hold trainer settings of its own under this key (MMRec tunes
``learning_rate`` per model): ``lattice: {reg_weight: [...], train: {lr: [1e-4, 1e-3]}}`` —
a list there is a grid too, its values named like the parameters' (``lr=0.001``)."""


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
        shown = [format_value(v) for v in values]
        twice = next((v for i, v in enumerate(shown) if v in shown[:i]), None)
        if twice is not None:
            raise ConfigError(
                f"hyper-parameter {key!r}: {twice} listed twice in its grid {shown} (each point "
                "is trained once; a list is a grid, not one list-valued setting)"
            )
    return fixed, lists


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


def flat_params(params: Mapping[str, Any], lists_only: bool = False) -> dict[str, Any]:
    """A backbone entry's values by name, its own trainer settings' included (``train.lr`` as
    ``lr``); ``lists_only``: only the grid keys."""
    own = params.get(TRAIN_KEY) or {}
    flat = {**backbone_only(params), **(own if isinstance(own, Mapping) else {})}
    return {k: v for k, v in flat.items() if isinstance(v, list) or not lists_only}


def excluded(rules: Sequence[Mapping[str, Any]], dataset: str, backbone: str, plugin: str) -> bool:
    """Whether an ``exclude:`` rule (a partial ``{dataset, backbone, plugin}``) drops the pair."""
    here = {"dataset": dataset, "backbone": backbone, "plugin": plugin}
    return any(all(here.get(k) == v for k, v in rule.items()) for rule in rules)
