"""The backbone registry: ``@register_backbone("name")`` in each model module, and the
``crossrec.backbones`` entry points of other installed packages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossrec.models.base import Backbone, DataSpec
from crossrec.registry import Registry

BACKBONES: Registry[Backbone] = Registry("backbone", group="crossrec.backbones")
register_backbone = BACKBONES.register


def build_backbone(name: str, spec: DataSpec, params: Mapping[str, Any] | None = None) -> Backbone:
    """Instantiate backbone ``name`` with strictly-checked hyper-parameters."""
    return BACKBONES.build(name, spec, params)
