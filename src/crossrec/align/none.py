"""``none``: the no-op plug-in, so a plain backbone runs through the same trainer path."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from crossrec.align.base import Plugin
from crossrec.align.registry import register_plugin
from crossrec.data.sampler import Batch
from crossrec.models.base import Encoded


@dataclass(frozen=True)
class NoneParams:
    """``none`` takes no hyper-parameters."""


@register_plugin("none")
class NoPlugin(Plugin):
    """Adds no loss term."""

    Params = NoneParams

    def loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """No terms: ``{}``."""
        return {}
