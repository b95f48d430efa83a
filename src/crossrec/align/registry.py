"""The plug-in registry: ``@register_plugin("name")`` in each plug-in module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossrec.align.base import Plugin
from crossrec.models.base import DataSpec
from crossrec.registry import Registry

PLUGINS: Registry[Plugin] = Registry("plugin")
register_plugin = PLUGINS.register


def build_plugin(name: str, spec: DataSpec, params: Mapping[str, Any] | None = None) -> Plugin:
    """Instantiate plug-in ``name`` with strictly-checked hyper-parameters."""
    return PLUGINS.build(name, spec, params)
