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
    or giving a grid)."""
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
        out.append(pin)
    return out
