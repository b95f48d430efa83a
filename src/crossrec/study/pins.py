"""A staged study's ``pin:`` entries: fixed points that skip a stage (torch-free)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crossrec.errors import ConfigError


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
    giving a grid, giving a plug-in pin a backbone's parameter, or fixing a point an earlier
    pin fixes)."""
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
        if pin.plugin is not None:
            own = config["plugins"].get(pin.plugin) or {}
            backbone = config["backbones"].get(pin.backbone) or {}
            foreign = [k for k in pin.params if k in backbone and k not in own]
            if foreign:
                raise ConfigError(
                    f"{where}.params.{foreign[0]}: a parameter of backbone {pin.backbone!r}, "
                    f"not of plug-in {pin.plugin!r} (pin it in a pin without `plugin`)"
                )
        for j, other in enumerate(out):
            same = (other.backbone, other.plugin) == (pin.backbone, pin.plugin)
            if (
                same
                and None in (other.dataset, pin.dataset)
                or (same and other.dataset == pin.dataset)
            ):
                raise ConfigError(
                    f"{where}: pins the same point as pin[{j}] ({pin.backbone}"
                    f"{'/' + pin.plugin if pin.plugin else ''}"
                    f"{' on ' + pin.dataset if pin.dataset else ''}): one pin per point"
                )
        out.append(pin)
    return out
