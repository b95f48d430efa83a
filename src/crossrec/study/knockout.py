"""The modality knock-out study: the chosen backbone with and without each plug-in, trained on
every proper subset of a dataset's modalities (text only, image only, ...), at the points the
main study trains, over the seeds — the answer to "would one modality do?" (Ye et al., ECIR
2026). Torch-free.

A kept subset is a dataset of its own, derived from the prepared folder (``crossrec subset``
writes ``results/data/<dataset>-only-<m1>-<m2>``: the folder without the dropped modalities'
``<m>_feat.npy`` and ``knn_<m>_*`` files), so every backbone and plug-in sees only the kept
modalities and a knock-out run is the main run's variant on that dataset. Parameters that name
modalities follow the data (:func:`restrict`): ``mm_weights`` keeps the kept modalities'
weights, renormalised to their sum (MMRec's FREEDOM with one modality uses that modality's
graph alone), and a ``modalities`` list keeps the kept names.

Config (``knockout:``)::

    knockout:
      modalities: [genre, text]      # every modality of the datasets ({dataset: [...]} per dataset)
      backbones: [freedom]
      plugins: [none, fettle]        # default: none and every plug-in of the backbone
      subsets: [[text], [genre]]     # default: every non-empty proper subset, largest first
      seeds: [1, 2, 3]               # default: seeds
      backbone_params: {freedom: {...}}   # a flat study: fix a grid point (as ablation)
      plugin_params: {...}
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crossrec.errors import ConfigError
from crossrec.run import RunKey, check_dataset_name

ONLY = "-only-"
"""Between a dataset's name and its kept modalities in a derived dataset's name."""
MODALITY = re.compile(r"[A-Za-z0-9_]{1,32}")
"""A modality's name: the stem of its ``<name>_feat.npy``, no ``-`` (the names' separator)."""
MODALITY_KEYS = ("mm_weights", "modalities")
"""The backbone and plug-in parameters that name modalities (:func:`restrict`)."""


def derived_name(dataset: str, kept: tuple[str, ...]) -> str:
    """``<dataset>-only-<m1>-<m2>``: the dataset restricted to the ``kept`` modalities."""
    return f"{dataset}{ONLY}{'-'.join(kept)}"


def proper_subsets(modalities: list[str]) -> list[tuple[str, ...]]:
    """Every non-empty proper subset of ``modalities``, largest first, each in the given
    order: ``[a, b, c]`` → ``(a, b), (a, c), (b, c), (a,), (b,), (c,)``."""
    return [
        combo
        for size in range(len(modalities) - 1, 0, -1)
        for combo in itertools.combinations(modalities, size)
    ]


def restrict(params: Mapping[str, Any], kept: tuple[str, ...]) -> dict[str, Any]:
    """``params`` with the modality-naming entries (:data:`MODALITY_KEYS`) restricted to
    ``kept``: ``mm_weights`` keeps the kept modalities' weights w_m / Σ_{kept} w (left empty
    when it named none of them, i.e. the backbone's default for the kept modalities),
    ``modalities`` keeps the kept names (None, every modality, stays None)."""
    out = dict(params)
    weights = out.get("mm_weights")
    if isinstance(weights, Mapping) and weights:
        part = {m: float(w) for m, w in weights.items() if m in kept}
        total = sum(part.values())
        out["mm_weights"] = {m: w / total for m, w in part.items()} if total > 0 else {}
    names = out.get("modalities")
    if isinstance(names, list):
        out["modalities"] = [m for m in names if m in kept]
    return out


@dataclass(frozen=True)
class Knockout:
    """A validated ``knockout:`` section: which runs the study adds and on what data."""

    modalities: dict[str, list[str]]
    """Each planned dataset's modalities, as the config declares them."""
    subsets: dict[str, list[tuple[str, ...]]]
    """Each dataset's kept subsets."""
    backbones: list[str]
    plugins: list[str] | None
    """The plug-ins trained (``none`` included); None: ``none`` and every plug-in."""
    seeds: list[int]
    spec: Mapping[str, Any]

    @classmethod
    def of(
        cls, config: Mapping[str, Any], datasets: list[str], seeds: list[int]
    ) -> Knockout | None:
        """The study's knock-out (None without ``knockout:``); ConfigError naming the key."""
        spec = config.get("knockout")
        if not spec:
            return None
        declared = spec["modalities"]
        modalities = {
            d: list(declared if isinstance(declared, list) else declared.get(d, []))
            for d in datasets
        }
        subsets: dict[str, list[tuple[str, ...]]] = {}
        for d, mods in modalities.items():
            where = "knockout.modalities" + ("" if isinstance(declared, list) else f".{d}")
            bad = [m for m in mods if not isinstance(m, str) or not MODALITY.fullmatch(m)]
            if bad:
                raise ConfigError(f"{where}: {bad[0]!r} is not a modality name (<name>_feat.npy)")
            if len(mods) < 2 or len(set(mods)) != len(mods):
                raise ConfigError(
                    f"{where}: name the dataset {d!r}'s modalities, at least two and each once "
                    f"(got {mods})"
                )
            wanted = [tuple(s) for s in spec.get("subsets") or proper_subsets(mods)]
            chosen = []
            for subset in wanted:
                if not subset or set(subset) - set(mods) or set(subset) == set(mods):
                    raise ConfigError(
                        f"knockout.subsets: {list(subset)} is not a non-empty proper subset of "
                        f"{d!r}'s modalities {mods}"
                    )
                kept = tuple(m for m in mods if m in subset)  # the declared order
                name = derived_name(d, kept)
                check_dataset_name(name, "knockout (the derived dataset's name)")
                if name in config["datasets"]:
                    raise ConfigError(
                        f"knockout: the derived dataset {name!r} is also a configured dataset"
                    )
                chosen.append(kept)
            subsets[d] = list(dict.fromkeys(chosen))
        for backbone in spec["backbones"]:
            if backbone not in config["backbones"]:
                raise ConfigError(f"knockout.backbones: {backbone!r} is not in `backbones`")
        plugins = spec.get("plugins")
        for plugin in plugins or []:
            if plugin not in config["plugins"]:
                raise ConfigError(f"knockout.plugins: {plugin!r} is not in `plugins`")
        run_seeds = [int(s) for s in spec.get("seeds", seeds)]
        if set(run_seeds) - set(seeds):
            raise ConfigError(
                f"knockout.seeds: {sorted(set(run_seeds) - set(seeds))} not among `seeds` (the "
                "full-modality reference of each knock-out is the main study's run)"
            )
        return cls(modalities, subsets, list(spec["backbones"]), plugins, run_seeds, spec)

    def plugins_of(self, available: list[str]) -> list[str]:
        """The knock-out's plug-ins among ``available`` (a backbone's, ``none`` first)."""
        if self.plugins is None:
            return available
        return [p for p in available if p in self.plugins]

    def runs(self, dataset: str, backbone: str, plugin: str, variant: str) -> list[RunKey]:
        """The runs of one point: every seed on the full dataset (the reference, usually a main
        run already) and on each kept subset."""
        names = [dataset, *(derived_name(dataset, kept) for kept in self.subsets[dataset])]
        return [RunKey(d, backbone, plugin, variant, s) for d in names for s in self.seeds]

    def kept(self, dataset: str) -> tuple[str, tuple[str, ...]] | None:
        """``(base dataset, kept modalities)`` of a derived dataset's name (None: not one)."""
        for base, subsets in self.subsets.items():
            for kept in subsets:
                if dataset == derived_name(base, kept):
                    return base, kept
        return None
