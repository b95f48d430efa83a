"""Display copies of result frames with the papers' names for backbones and plug-ins."""

from __future__ import annotations

import pandas as pd

from crossrec.report.published import backbone_name, plugin_name


def named(frame: pd.DataFrame) -> pd.DataFrame:
    """A display copy of ``frame`` with the papers' names for its ``backbone`` and ``plugin``
    columns (``lightgcn`` → ``LightGCN``, ``cross_no_cla`` → ``+CROSS w/o CLA``); the csv
    keeps the ids."""
    out = frame.copy()
    if "backbone" in out:
        out["backbone"] = out["backbone"].map(backbone_name)
    if "plugin" in out:
        out["plugin"] = out["plugin"].map(plugin_name)
        out = out.rename(columns={"plugin": "plug-in"})
    return out
