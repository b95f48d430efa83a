"""A cost row for a (dataset, backbone, plug-in) nothing measured, from rows that were: the
plug-in's factor on a measured dataset, or the same run on the dataset nearest in size
(:func:`predict`; :mod:`crossrec.costs.learned` says where the rows come from)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

Size = tuple[int, int, int]
"""(users, items, interactions) of a dataset."""


def _nearest(
    rows: Mapping[tuple[str, str, str], Any], sizes: Mapping[str, Size], shape: str, *pairs: tuple
) -> str | None:
    """The shape nearest ``shape`` in interactions (|log ratio|) that has a row for every
    (backbone, family) of ``pairs`` and a known size; None where there is none."""
    inter = sizes[shape][2]
    near = [
        (abs(math.log(inter / sizes[s][2])), s)
        for s in {k[0] for k in rows}
        if s != shape and s in sizes and all((s, *p) in rows for p in pairs)
    ]
    return min(near)[1] if near else None


def predict(
    rows: Mapping[tuple[str, str, str], Mapping[str, float]],
    sizes: Mapping[str, Size],
    key: tuple[str, str, str],
) -> tuple[dict[str, float], str] | None:
    """A row for ``key`` (shape, backbone, family) and where it came from; None when nothing
    known leads to it.

    1. **The plug-in's factor**: with the backbone alone measured on this dataset, that row
       times the plug-in family's factor (each number's ratio plug-in / alone) on the nearest
       dataset in size where both are measured — a plug-in's cost is a multiple of its
       backbone's far more reliably than a dataset's is of another's.
    2. **The dataset's size**: else the same backbone and family on the nearest dataset,
       ``epoch_s`` scaled by the interactions ratio (an epoch visits every train interaction),
       ``eval_s`` by the users × items ratio (evaluation scores every pair), ``build_s`` and
       ``peak_mb`` by the larger of the two.
    """
    shape, backbone, family = key
    if shape not in sizes:
        return None
    alone = rows.get((shape, backbone, "none"))
    if alone is not None and family != "none":
        source = _nearest(rows, sizes, shape, (backbone, family), (backbone, "none"))
        if source is not None:
            with_p, without = rows[(source, backbone, family)], rows[(source, backbone, "none")]
            row = {
                k: alone[k] * (with_p[k] / without[k] if without[k] else 1.0)
                for k in ("build_s", "epoch_s", "eval_s", "peak_mb")
            }
            note = (
                f"predicted: {shape}/{backbone}/none x {family}'s factor on {source} "
                f"(epoch x{with_p['epoch_s'] / max(without['epoch_s'], 1e-9):.3g})"
            )
            return row, note
    source = _nearest(rows, sizes, shape, (backbone, family))
    if source is None:
        return None
    base = rows[(source, backbone, family)]
    users, items, inter = sizes[shape]
    s_users, s_items, s_inter = sizes[source]
    r_epoch = inter / s_inter
    r_eval = (users * items) / (s_users * s_items)
    r_rest = max(r_epoch, r_eval)
    row = {
        "build_s": base["build_s"] * r_rest,
        "epoch_s": base["epoch_s"] * r_epoch,
        "eval_s": base["eval_s"] * r_eval,
        "peak_mb": base["peak_mb"] * r_rest,
    }
    note = (
        f"predicted: {source}/{backbone}/{family} scaled by size (interactions x{r_epoch:.3g}, "
        f"users x items x{r_eval:.3g})"
    )
    return row, note
