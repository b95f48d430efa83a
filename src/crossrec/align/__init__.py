"""Alignment plug-ins: losses added to any backbone's recommendation loss.

Importing this package registers every shipped plug-in: ``none`` (the no-op baseline, so the
baseline shares the trainer's code path), ``fettle``, ``cross`` and its ablations
(:mod:`crossrec.align.presets`), and ``bm3``. The losses are also usable alone::

    from crossrec.align import ILALoss, CLALoss, CNALoss
"""

from crossrec.align import bm3, none, presets  # noqa: F401  (registration side effect)
from crossrec.align.base import Plugin
from crossrec.align.cla import CLALoss, sinkhorn
from crossrec.align.cna import CNALoss
from crossrec.align.ila import ILALoss
from crossrec.align.registry import PLUGINS, build_plugin

__all__ = ["PLUGINS", "CLALoss", "CNALoss", "ILALoss", "Plugin", "build_plugin", "sinkhorn"]
