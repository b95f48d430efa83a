"""What every source's ``prepare`` shares (:mod:`crossrec.data.sources`): the derived files (kNN
item graphs, CNA neighbours, DualGNN's user graph), ``meta.json`` and the one-line summary.

The output folder is written under a temporary name, loaded back with
:func:`crossrec.data.formats.load_mmrec` (so it is checked exactly as training will read it), and
only then renamed into place together with ``meta.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossrec import __version__
from crossrec.data.formats import (
    SPLITS,
    InteractionData,
    feature_digest,
    feature_files,
    load_mmrec,
)
from crossrec.data.neighbors import item_neighbors
from crossrec.data.user_graph import CNT_FILE, IDX_FILE, user_cooccurrence
from crossrec.errors import ConfigError
from crossrec.graph import knn_neighbors
from crossrec.io import save_npy, write_json


def is_prepared(folder: Path) -> bool:
    """A prepared folder of a crossrec version before the output marker: its ``meta.json``."""
    from crossrec.errors import CrossrecError
    from crossrec.safeload import load_json

    try:
        return "crossrec_version" in load_json(folder / "meta.json")
    except (CrossrecError, TypeError):
        return False


def _summary(data: InteractionData) -> dict[str, Any]:
    sizes = {s: len(data.split(s)) for s in SPLITS}
    return {
        "n_users": data.n_users,
        "n_items": data.n_items,
        "n_interactions": sum(sizes.values()),
        "splits": sizes,
        "n_train_items": int(np.unique(data.train.items).size),
        "modalities": {
            name: {"dim": int(f.shape[1]), "dtype": "float32"} for name, f in data.features.items()
        },
    }


def _write_knn(tmp: Path, data: InteractionData, ks: Sequence[int]) -> dict[str, Any]:
    """``knn_<m>_k<K>_<digest>.npy`` per modality and K: cosine top-K of the features, self
    included, the file name keyed by the feature file it came from."""
    files = feature_files(tmp)
    written = {}
    for modality, feats in data.features.items():
        digest = feature_digest(files[modality])
        order = knn_neighbors(torch.from_numpy(feats), max(ks)).numpy().astype(np.int64)
        for k in sorted(set(ks)):
            name = f"knn_{modality}_k{k}_{digest}.npy"
            save_npy(tmp / name, np.ascontiguousarray(order[:, :k]))
            written[name] = {"modality": modality, "k": k, "feature_sha256_12": digest}
    return written


def finish_folder(
    tmp: Path,
    name: str,
    meta: dict[str, Any],
    neighbor_ks: Sequence[int] = (),
    knn_ks: Sequence[int] = (),
    user_graph: bool = False,
    data: InteractionData | None = None,
) -> dict[str, Any]:
    """Write the derived files (user graph, kNN graphs, neighbour files) and ``meta.json`` into
    ``tmp``; ``data`` is the folder's content when the caller already loaded it (else it is
    loaded from ``tmp``, so it is checked exactly as training will read it)."""
    data = data if data is not None else load_mmrec(tmp)
    for flag, ks in (("--knn-k", knn_ks), ("--neighbors-k", neighbor_ks)):
        too_many = [k for k in ks if k > data.n_items]
        if too_many:
            raise ConfigError(f"{flag}: K={too_many[0]} exceeds the {data.n_items} items of {name}")
    summary = _summary(data)
    if user_graph:
        idx, cnt = user_cooccurrence(data.train.users, data.train.items, data.n_users, data.n_items)
        save_npy(tmp / IDX_FILE, idx)
        save_npy(tmp / CNT_FILE, cnt)
        summary["user_graph"] = {
            "source": "train interactions; users sharing items, by count; top 200",
            "users_without_neighbours": int((idx[:, 0] < 0).sum()),
        }
    if knn_ks:
        summary["item_knn"] = _write_knn(tmp, data, knn_ks)
    if neighbor_ks:
        arrays, padding = item_neighbors(
            data.train.users, data.train.items, data.n_users, data.n_items, sorted(set(neighbor_ks))
        )
        for k, arr in arrays.items():
            save_npy(tmp / f"neighbors_k{k}.npy", arr)
        summary["neighbors"] = {
            "source": "train interactions; cosine of item user-sets; self excluded",
            "padding": "cycle the available neighbours; none -> the item itself",
            **{f"k{k}": padding[k] for k in arrays},
        }
    for modality, info in meta.pop("modality_info", {}).items():
        summary["modalities"][modality].update(info)
    meta = {"dataset": name, **summary, **meta, "crossrec_version": __version__}
    write_json(tmp / "meta.json", meta)
    return meta


def describe(meta: dict[str, Any]) -> str:
    """One line of counts for the log, e.g. ``ml100k: 943 users, 1,349 items, ...``."""
    s = meta["splits"]
    mods = ", ".join(f"{m} {v['dim']}-d" for m, v in meta["modalities"].items()) or "none"
    return (
        f"{meta['dataset']}: {meta['n_users']:,} users, {meta['n_items']:,} items, "
        f"{meta['n_interactions']:,} interactions (train {s['train']:,} / valid "
        f"{s['valid']:,} / test {s['test']:,}); modalities: {mods}"
    )
