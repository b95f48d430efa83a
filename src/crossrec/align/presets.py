"""Registered presets of the alignment plug-in: FETTLE, CROSS and CROSS's ablations.

Each preset is :class:`~crossrec.align.plugin.AlignmentPlugin` with other defaults (every value
can still be overridden in the config). α = ILA/ILDA weight, β = CLA, γ = CNA (docs/method.md §8.3):

| preset | ILA mask | DT | α | β | γ |
|---|---|---|---|---|---|
| fettle | oneway | on | 1e-3 | 1e-3 | 0 |
| cross | dynamic | on | 1e-3 | 1e-4 | 1e-3 |
| cross_no_ilda | – | – | 0 | 1e-4 | 1e-3 |
| cross_no_cla | dynamic | on | 1e-3 | 0 | 1e-3 |
| cross_no_cna | dynamic | on | 1e-3 | 1e-4 | 0 |
| cross_no_dt | dynamic | off | 1e-3 | 1e-4 | 1e-3 |
| cross_oneway | oneway | on | 1e-3 | 1e-4 | 1e-3 |
| cross_bidir | all | on | 1e-3 | 1e-4 | 1e-3 |

FETTLE's β = 1e-3 is the grid point its NCL/Clothing log selects on validation (docs/method.md §8.1).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from crossrec.align.plugin import AlignmentPlugin, AlignParams
from crossrec.align.registry import register_plugin

PRESETS: dict[str, dict[str, Any]] = {
    "fettle": {"ila_mask": "oneway", "beta": 1e-3, "gamma": 0.0},
    "cross": {},
    "cross_no_ilda": {"alpha": 0.0},
    "cross_no_cla": {"beta": 0.0},
    "cross_no_cna": {"gamma": 0.0},
    "cross_no_dt": {"use_dt": False},
    "cross_oneway": {"ila_mask": "oneway"},
    "cross_bidir": {"ila_mask": "all"},
}


def _preset(name: str, defaults: dict[str, Any]) -> type[AlignmentPlugin]:
    """A subclass of AlignmentPlugin whose ``Params`` carries ``defaults``."""
    hints = typing.get_type_hints(AlignParams, include_extras=True)
    fields = [
        (f.name, hints[f.name], dataclasses.field(default=defaults[f.name]))
        for f in dataclasses.fields(AlignParams)
        if f.name in defaults
    ]
    params = dataclasses.make_dataclass(
        f"{name.title().replace('_', '')}Params", fields, bases=(AlignParams,), frozen=True
    )
    params.__doc__ = f"Hyper-parameters of the {name} preset: {defaults or 'the CROSS defaults'}."
    cls = type(
        name.title().replace("_", ""),
        (AlignmentPlugin,),
        {"Params": params, "name": name, "__doc__": f"The {name} preset."},
    )
    return register_plugin(name)(cls)


for _name, _defaults in PRESETS.items():
    _preset(_name, _defaults)
