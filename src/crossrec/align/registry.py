"""The plug-in registry: ``@register_plugin("name")`` in each plug-in module, and the
``crossrec.plugins`` entry points of other installed packages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossrec.align.base import Plugin
from crossrec.models.base import BackboneInfo, DataSpec
from crossrec.registry import Registry

PLUGINS: Registry[Plugin] = Registry("plugin", group="crossrec.plugins")
register_plugin = PLUGINS.register


def build_plugin(
    name: str, spec: DataSpec, info: BackboneInfo, params: Mapping[str, Any] | None = None
) -> Plugin:
    """Instantiate plug-in ``name`` for a backbone described by ``info`` (strict parameters).

    Raises:
        ConfigError: unknown name or parameter, or the backbone/dataset cannot feed the plug-in
            (e.g. no item modality, a missing neighbour file) — at build time, not at step 1.
    """
    return PLUGINS.build(name, spec, params, info)
