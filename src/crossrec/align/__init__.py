"""Alignment plug-ins: losses added to any backbone's recommendation loss.

Importing this package registers every shipped plug-in (``none`` is the no-op baseline, so the
baseline shares the trainer's code path).
"""

from crossrec.align import none  # noqa: F401  (registration side effect)
from crossrec.align.base import Plugin
from crossrec.align.registry import PLUGINS, build_plugin

__all__ = ["PLUGINS", "Plugin", "build_plugin"]
